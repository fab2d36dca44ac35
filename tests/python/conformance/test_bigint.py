"""Big integers: multi-digit arithmetic, conversions, the 3.11 int/str digit limit."""
import math
import sys

from .harness import case, conformance_tests

BIG = [2**64, -(2**100) + 1, 3**200, 10**50 + 7, math.factorial(60), (1 << 1000) - 1]


@case(BIG)
def big_arith(n):
    return n + 1, n - (1 << 70), n * n, n * -3, -n, abs(n)


@case(BIG)
def big_division(n):
    return n // 12345678901234567, n % 998244353, divmod(n, -(10**20)), n // -7


@case(BIG)
def big_true_division_and_float(n):
    try:
        f = float(n)
    except OverflowError as e:
        f = "OverflowError: " + str(e)
    return f, n / 10**40, (n * 3) / n


@case(BIG)
def big_bit_operations(n):
    return n.bit_length(), n.bit_count(), n >> 37, n << 11, n & ((1 << 64) - 1), n ^ (n >> 1), ~n


@case(BIG)
def big_str_and_repr(n):
    s = str(n)
    return s, int(s) == n, len(s), repr(n)[:20]


@case(BIG)
def big_hex_oct_bin(n):
    return hex(n), oct(n)[:30], len(bin(n)), int(hex(n), 16) == n, format(n, "_x")[:40]


@case(BIG)
def big_to_from_bytes(n):
    length = (n.bit_length() + 8) // 8
    b = n.to_bytes(length=length, byteorder="big", signed=True)
    return b, int.from_bytes(b, byteorder="big", signed=True) == n, n.to_bytes(length, "little", signed=True)[:4]


@case(BIG)
def big_pow_mod(n):
    m = (1 << 127) - 1
    return pow(n, 65537, m), pow(abs(n), -1, m) if math.gcd(n, m) == 1 else None, pow(7, abs(n) % 10**6, 10**9 + 7)


@case(BIG)
def big_gcd_isqrt(n):
    a = abs(n)
    r = math.isqrt(a)
    return math.gcd(n, 2**90 * 3**5), r, r * r <= a < (r + 1) * (r + 1)


@case([10, 100, 1000])
def big_factorial_digits(n):
    f = math.factorial(n)
    return sum(int(d) for d in str(f)) if len(str(f)) < 4000 else None, f.bit_length(), f % (10**9 + 7)


@case([100, 1000, 5000])
def big_fibonacci(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a % (10**12), a.bit_length()


@case([4000, 4300, 5000])
def big_str_digit_limit_caught(digits):
    n = 10 ** (digits - 1)
    try:
        s = str(n)
        return "ok", len(s)
    except ValueError as e:
        return "ValueError", str(e).split(";")[0]


@case([4300, 5000])
def big_int_parse_limit_caught(digits):
    try:
        return "ok", int("7" * digits) % 1000
    except ValueError as e:
        return "ValueError", str(e).split(";")[0]


@case(BIG)
def big_compare_and_hash(n):
    return n > 2**63, n == n + 0, hash(n) == hash(n + 0), sorted([n, -n, 0]) == [-abs(n), 0, abs(n)], hash(n) % 1000


@case(BIG)
def big_mixed_float_compare(n):
    return n < float("inf"), n > -1e300, n == float(n) if n.bit_length() < 1000 else None, 2**53 + 1 == float(2**53 + 1)


@case([1, 50, 300])
def big_product_accumulate(n):
    p = 1
    for i in range(1, n + 1):
        p *= i * i + 1
    return p % (2**61 - 1), p.bit_length(), sys.int_info.bits_per_digit


@case(BIG)
def big_round_and_format(n):
    return round(n, -10), f"{n:,}"[:30], f"{n:e}" if n.bit_length() < 1000 else "", format(n, "x")[-8:]


Conformance = conformance_tests(__name__)
