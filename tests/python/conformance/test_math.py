"""math, cmath, statistics, fractions and decimal computations."""
import cmath
import decimal
import fractions
import math
import statistics

from .harness import case, conformance_tests

XS = [0.0, 0.5, 1.0, 2.0, 10.0, 1e-10, 123.456]
NS = [0, 1, 5, 12, 30]


@case(XS)
def math_exp_log(x):
    return math.exp(x), math.log1p(x), math.expm1(x), math.log(x + 1, 2), math.log10(x + 1), math.log2(x + 1)


@case(XS)
def math_trig(x):
    return math.sin(x), math.cos(x), math.tan(x), math.atan2(x, 1.5), math.asin(min(x, 1.0)), math.hypot(x, 3)


@case(XS)
def math_hyperbolic_and_angles(x):
    return math.sinh(x / 10), math.cosh(x / 10), math.tanh(x), math.degrees(x), math.radians(x)


@case(XS)
def math_rounding_functions(x):
    return math.floor(x), math.ceil(x), math.trunc(-x), math.modf(x), math.frexp(x), math.ldexp(x, 3)


@case(XS)
def math_sqrt_pow_cbrt(x):
    return math.sqrt(x), math.pow(x, 1.5), x ** (1 / 3), math.isqrt(int(x * 1000)), math.copysign(x, -1)


@case(XS)
def math_predicates_and_isclose(x):
    return (math.isfinite(x), math.isinf(x * 1e308 * 10), math.isnan(x), math.isclose(x, x + 1e-12),
            math.isclose(x, 0.0, abs_tol=1e-9))


@case(NS)
def math_integer_functions(n):
    return (math.factorial(n), math.comb(n + 5, 3), math.perm(n + 3, 2), math.gcd(n, 36), math.lcm(n or 1, 8),
            math.prod(range(1, n + 1)))


@case(NS)
def math_fsum_vs_sum(n):
    values = [0.1] * (n * 10) + [1e100, -1e100]
    return math.fsum(values), sum(values), math.fsum([1e-16] * 10 + [1.0])


@case(XS)
def math_dist_and_special(x):
    return math.dist((0, 0), (x, x)), math.erf(x), math.erfc(x), math.gamma(x + 1), math.lgamma(x + 1)


@case([-1.0, 0.0, float("inf")])
def math_domain_errors_caught(x):
    out = []
    for f in (math.sqrt, math.log, lambda v: math.acos(v + 2), math.factorial):
        try:
            out.append(f(x))
        except (ValueError, OverflowError, TypeError) as e:
            out.append(type(e).__name__ + ": " + str(e))
    return out


@case(NS)
def math_floor_ceil_of_objects(n):
    class Meters:
        def __init__(self, v):
            self.v = v

        def __floor__(self):
            return int(self.v) - 100

        def __ceil__(self):
            return int(self.v) + 100

    return math.floor(Meters(n + 0.5)), math.ceil(Meters(n)), math.floor(fractions.Fraction(n, 3)), math.trunc(
        fractions.Fraction(-n, 7)
    )


@case([1j, -1 + 0j, complex(2, 3)])
def cmath_functions(z):
    return cmath.sqrt(z), cmath.exp(z), cmath.phase(z), cmath.polar(z), cmath.isclose(z, z * 1.0)


@case(NS)
def fractions_arithmetic(n):
    f = fractions.Fraction(n + 1, 7)
    g = f * fractions.Fraction(3, 4) + 1
    return str(g), g.numerator, g.denominator, float(g), str(fractions.Fraction("0.125")), g.limit_denominator(10) == g


@case(NS)
def decimal_arithmetic_default_context(n):
    d = decimal.Decimal(n) / decimal.Decimal(7)
    return str(d), str(d.quantize(decimal.Decimal("0.01"))), str(decimal.Decimal("1.10") + decimal.Decimal("2.205"))


@case(NS)
def decimal_local_context(n):
    with decimal.localcontext() as ctx:
        ctx.prec = 5 + n
        third = decimal.Decimal(1) / decimal.Decimal(3)
    return str(third), str(decimal.Decimal(2).sqrt(decimal.Context(prec=10 + n)))


@case(NS)
def statistics_functions(n):
    data = [((i * 37) % 11) + 0.5 for i in range(n + 3)]
    return (statistics.mean(data), statistics.median(data), statistics.pstdev(data), statistics.mode(
        [round(x) for x in data]), statistics.fmean(data))


@case(NS)
def math_constants(n):
    return math.pi * n, math.e, math.tau / (n + 1), math.inf > n, math.isnan(math.nan)


@case([10, 1000, 10000])
def math_numeric_integration(n):
    h = math.pi / n
    return sum(math.sin(i * h) for i in range(n)) * h


@case(NS)
def math_newton_sqrt(n):
    x = float(n) or 1.0
    guess = x
    for _ in range(50):
        guess = 0.5 * (guess + x / guess)
    return guess, math.isclose(guess * guess, x)


Conformance = conformance_tests(__name__)
