"""Float to string and back (dtoa): repr, str, format codes, %, round, parsing, float.hex."""
from .harness import case, conformance_tests

FLOATS = [0.0, -0.0, 1.0, 0.1, 0.2 + 0.1, 1 / 3, 2 / 3, 1e16, 1e22, 1e23, 123456789.123456789, 5e-324,
          2.2250738585072014e-308, 1.7976931348623157e308, -1.5e-10, 9007199254740993.0, 0.5, 2.675,
          float("inf"), float("-inf"), float("nan")]


@case(FLOATS)
def ff_repr_str(x):
    return repr(x), str(x)


@case(FLOATS)
def ff_roundtrip_through_repr(x):
    y = float(repr(x))
    return repr(y), y == x or (x != x and y != y)


@case(FLOATS)
def ff_format_codes(x):
    return [format(x, spec) for spec in ("", "f", ".3f", "e", ".12e", "g", ".17g", "G", "%", "n")]


@case(FLOATS)
def ff_percent_formatting(x):
    return "%f|%.1f|%e|%.0e|%g|%.15g|%r|%s|%10.4f|%-12.3e|" % (x, x, x, x, x, x, x, x, x, x)


@case(FLOATS)
def ff_round_ndigits(x):
    out = []
    for nd in (None, 0, 1, 2, 5, -1, -5):
        try:
            out.append(repr(round(x, nd)) if nd is not None else round(x))
        except (OverflowError, ValueError) as e:
            out.append(type(e).__name__)
    return out


@case(FLOATS)
def ff_hex_roundtrip(x):
    h = x.hex()
    return h, repr(float.fromhex(h))


@case(["0.1", "1e-400", "1e400", "-0", "  3.5  ", "1_000.5", "0x1p-2", ".5e1", "5.", "nan", "-InFiNiTy",
       "1.7976931348623159e308", "2.4703282292062327e-324", "123456789012345678901234567890"])
def ff_parse_strings(s):
    try:
        return repr(float(s))
    except ValueError as e:
        return "ValueError: " + str(e)


@case([12, 123, 1234, 99999])
def ff_many_digits_strtod(n):
    text = "0." + "3" * n
    return repr(float(text)), repr(float("9" * (n % 400) + ".5")) if n % 400 else None


@case(FLOATS)
def ff_fstring_and_str_format(x):
    return f"{x:.6}|{x:>12.4e}|{x:+.2%}|{x:_.2f}", "{:.3g}".format(x), "{0!r}".format(x)


@case([1, 7, 100])
def ff_accumulated_sums_repr(n):
    total = 0.0
    reprs = []
    for i in range(n * 10):
        total += 0.1 * i
        if i % 7 == 0:
            reprs.append(repr(total))
    return reprs[-3:], total


@case(FLOATS)
def ff_float_in_containers_repr(x):
    return repr([x, (x,), {"x": x}]), str({x}) if x == x else "nan-set"


@case([0.1, 1e-5, 123.456, 1e100])
def ff_decimal_digits_via_format(x):
    return ["{:.{}f}".format(x, p) for p in (0, 5, 20, 50)]


@case(FLOATS)
def ff_as_integer_ratio_and_int(x):
    try:
        return x.as_integer_ratio(), int(x) if abs(x) < 1e300 else "big"
    except (OverflowError, ValueError) as e:
        return type(e).__name__


Conformance = conformance_tests(__name__)
