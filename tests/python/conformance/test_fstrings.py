"""f-strings: conversions, format specs, nesting, = debugging, numbers of every kind."""
import datetime

from .harness import case, conformance_tests

VALUES = [0, 7, -42, 3.5, -0.001, 1e21, 2**70, "text", "ünï", None, True, (1, "a"), [1.5, None]]
NUMS = [0, 1, -1, 255, 123456789, -9876543210, 2**64]
FLOATS = [0.0, -0.0, 1.0, 2.5, 0.1, 1 / 3, 123456.789, 1e-7, 6.02214076e23, float("inf"), float("nan")]


@case(VALUES)
def fstr_conversions(v):
    return f"{v}|{v!r}|{v!s}|{v!a}"


@case(VALUES)
def fstr_width_and_alignment(v):
    s = str(v)
    return f"[{s:<12}][{s:>12}][{s:^12}][{s:*^12}][{s:.3}]"


@case(NUMS)
def fstr_integer_specs(n):
    return f"{n:d} {n:+d} {n: d} {n:,} {n:_} {n:x} {n:#X} {n:#o} {n:#b} {n:010d} {n:>+12,}"


@case(NUMS)
def fstr_integer_as_float_specs(n):
    return f"{n:.2f} {n:e} {n:.3g} {n:%}"


@case(FLOATS)
def fstr_float_fixed(x):
    return f"{x:f} {x:.0f} {x:.2f} {x:10.3f} {x:<10.1f}| {x:+.4f} {x:,.2f}"


@case(FLOATS)
def fstr_float_exponent_and_general(x):
    return f"{x:e} {x:.2E} {x:g} {x:.10g} {x:G} {x:.1%} {x}"


@case(FLOATS)
def fstr_float_alternate_and_zero_pad(x):
    return f"{x:#.0f} {x:012.4f} {x:#g} {x:=+12.2f} {x:z.1f}"


@case([1 + 2j, -0.5j, complex(1e10, -1e-10)])
def fstr_complex(z):
    return f"{z} {z:.2f} {z:>30} {z.real:.1e}"


@case(VALUES)
def fstr_nested_specs(v):
    width, prec = 14, 4
    s = str(v)
    return f"{s:>{width}.{prec}}|{s:{'^'}{width}}"


@case(VALUES)
def fstr_debug_equals(v):
    x = v
    return f"{x=}", f"{x = !s}", f"{len(str(x))=:>5}"


@case(VALUES)
def fstr_expressions_inside(v):
    d = {"k": v}
    items = [v, v]
    return f"{d['k']!r}-{items[-1]}-{len(items) * 2}-{'yes' if v else 'no'}-{(lambda: v)()}"


@case(VALUES)
def fstr_braces_and_multiline(v):
    return f"{{literal}} {v!r} {{{v!s}}}", f"""a
{v}
b"""


@case(NUMS)
def fstr_format_builtin_equivalence(n):
    return format(n, ",d") == f"{n:,d}", format(n, "x"), "{:>10}".format(n), "%10d" % n


@case([datetime.date(2024, 2, 29), datetime.datetime(1999, 12, 31, 23, 59, 59, 123456)])
def fstr_datetime_specs(d):
    return f"{d:%Y-%m-%d}", f"{d:%A %j %U}", f"{d!r}"


@case(VALUES)
def fstr_building_in_loop(v):
    out = ""
    for i in range(20):
        out += f"{i}:{v!r},"
    return out


@case(["é", "日本", "😀", "a\tb\n"])
def fstr_unicode(s):
    return f"{s:>6}|{s!a}|{s!r}|{s * 2:^10}"


@case([3, 15])
def fstr_nested_fstrings(n):
    return f"{'-'.join(f'{i:02x}' for i in range(n))}", f"{f'{n:>{n}}'!r}"


@case(NUMS)
def fstr_format_errors_caught(n):
    out = []
    for spec in ("d", "s", ".2f", "Q", ",s"):
        try:
            out.append(format(n, spec))
        except ValueError as e:
            out.append("ValueError: " + str(e))
    return out


Conformance = conformance_tests(__name__)
