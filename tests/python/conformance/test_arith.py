"""Integer, float and complex arithmetic, comparisons and builtins on numbers."""
from .harness import case, conformance_tests

INTS = [0, 1, -1, 7, -13, 255, 2**31 - 1, -(2**31), 2**63 + 5, 10**18]
FLOATS = [0.0, -0.0, 1.5, -2.25, 1e-300, 3.141592653589793, 1e16, -7.0]


@case(INTS)
def int_basic_ops(n):
    return (n + 3, n - 11, n * 7, n // 3, n % 3, -n, abs(n), n**2)


@case(INTS)
def int_divmod_negative_divisor(n):
    return divmod(n, -7), divmod(-n, 5)


@case(INTS)
def int_bit_ops(n):
    return (n & 0xFF, n | 0x100, n ^ 0x5A5A, ~n, n << 5, n >> 3)


@case(INTS)
def int_bit_length_and_count(n):
    return n.bit_length(), n.bit_count(), (n & -n if n else 0)


@case(INTS)
def int_comparisons(n):
    return (n < 0, n == 7, n >= 255, 0 < n < 1000, max(n, 3), min(n, -3))


@case(INTS)
def int_to_float_and_back(n):
    f = float(n)
    return f, int(f) if abs(f) < 2**53 else None


@case(INTS)
def int_true_division(n):
    return n / 4, n / 3, (n or 1) / (n or 1)


@case(INTS)
def int_pow_mod(n):
    return pow(abs(n) + 2, 65537, 2**61 - 1), pow(3, abs(n) % 50, 1000)


@case(INTS)
def int_modular_inverse(n):
    m = 1_000_000_007
    a = abs(n) % m or 1
    inv = pow(a, -1, m)
    return inv, a * inv % m


@case(INTS)
def int_round_builtin(n):
    return round(n, -2), round(n, -1), round(n)


@case(INTS)
def int_base_conversions(n):
    return bin(n), oct(n), hex(n), int(hex(n), 16), int(bin(n), 0)


@case(["0", "-17", "  42  ", "1_000_000", "0x1F", "ff", "zz"])
def int_parse_with_base(s):
    out = []
    for base in (10, 16, 36, 0):
        try:
            out.append(int(s, base))
        except ValueError as e:
            out.append(str(e))
    return out


@case(FLOATS)
def float_basic_ops(x):
    return (x + 1.0, x - 0.5, x * 3.0, x / 7.0, -x, abs(x))


@case(FLOATS)
def float_floor_div_and_mod(x):
    return x // 2.0, x % 2.0, divmod(x, -1.5)


@case(FLOATS)
def float_predicates(x):
    return x.is_integer(), x == int(x), x > 0, x != x


@case(FLOATS)
def float_as_integer_ratio(x):
    return x.as_integer_ratio()


@case(FLOATS)
def float_round_ndigits(x):
    return round(x, 2), round(x, 0), round(x * 1000.5, -1)


@case([0.5, 1.5, 2.5, -0.5, -1.5, 1e20, -3.7])
def float_round_half_even(x):
    return round(x), type(round(x)).__name__


@case(FLOATS)
def float_special_values(x):
    inf = float("inf")
    nan = float("nan")
    return (x + inf, x - inf, x * 0.0, nan != nan, inf > x, min(x, inf), (x + nan) == (x + nan))


@case([1e308, -1e308, 2.0, 10.0])
def float_overflow_caught(x):
    try:
        return x**400
    except OverflowError as e:
        return "OverflowError: " + str(e)


@case([0, 0.0, 5, 2.5])
def zero_division_caught(x):
    out = []
    for f in (lambda: 1 / x, lambda: 1 // x, lambda: 1 % x):
        try:
            out.append(f())
        except ZeroDivisionError as e:
            out.append(str(e))
    return out


@case([complex(1, 2), complex(-3.5, 0.25), 1j, complex(0, 0)])
def complex_ops(z):
    return (z + 1, z * z, z.conjugate(), abs(z), z.real, z.imag, z == z.conjugate())


@case([complex(1, 2), complex(3, -4), 2j])
def complex_division_and_pow(z):
    return z / (1 + 1j), z**2, z**0.5


@case([0, 1, 2, 3, 10, 97])
def mixed_type_arithmetic(n):
    return (n + 0.5, n * 1j, n + True, True + True, n * (n > 1), sum([n, 0.25, 1j]))


@case(list(range(1, 40, 3)))
def collatz_steps(n):
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


@case([10, 100, 1000])
def primes_below(n):
    sieve = [True] * n
    sieve[0:2] = [False, False]
    for i in range(2, int(n**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = [False] * len(range(i * i, n, i))
    return [i for i, p in enumerate(sieve) if p][-5:]


@case([0, 1, 2, 10, 50, 90])
def fibonacci_iterative(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


@case([(1, 2), (10, 4), (-7, 3), (2**40, 3**20)])
def gcd_euclid(pair):
    a, b = pair
    while b:
        a, b = b, a % b
    return abs(a)


@case([3, 17, 1024, 99991])
def sum_of_digits_loop(n):
    total = 0
    while n:
        n, d = divmod(n, 10)
        total += d
    return total


@case([1, 5, 20])
def accumulate_float_sum(n):
    total = 0.0
    for i in range(1, n * 100):
        total += 1.0 / (i * i)
    return total


@case([True, False])
def bool_arithmetic(b):
    return (b + 1, b * 10, -b, ~b, b & True, b | False, b ^ True, int(b), str(b))


@case([range(0), range(5), range(2, 20, 3), range(10, 0, -2)])
def range_arithmetic(r):
    return (len(r), sum(r), list(r[1:3]), r.count(5), 8 in r, list(reversed(r))[:2])


@case([3, -3, 0, 12345678901234567890])
def hash_of_numbers(n):
    return hash(n) == hash(float(n)) if abs(n) < 2**53 else hash(n) == hash(n), hash(-1), hash(0.0)


Conformance = conformance_tests(__name__)
