"""Builtins and methods called with keyword arguments (Argument Clinic keyword parsers are built
lazily on first use): int.to_bytes(length=...), bytes.hex(sep=...), str.expandtabs(tabsize=...),
sorted(key=...), and friends."""
import io
import itertools

from .harness import case, conformance_tests

NS = [0, 1, 255, 65535, 2**40 + 17]
DATA = [b"", b"\x01", b"\xde\xad\xbe\xef", bytes(range(20))]
TABBED = ["", "a\tb", "\t\tx\ty\n\tz", "col1\tcol2\tcol3"]


@case(NS)
def kw_int_to_bytes(n):
    return (n.to_bytes(length=8, byteorder="big"), n.to_bytes(8, byteorder="little", signed=True),
            n.to_bytes(length=16, byteorder="little", signed=False))


@case(DATA)
def kw_int_from_bytes(b):
    return int.from_bytes(b, byteorder="big"), int.from_bytes(bytes=b, byteorder="little", signed=True)


@case(DATA)
def kw_bytes_hex_sep(b):
    return b.hex(sep=":"), b.hex(sep="-", bytes_per_sep=2), b.hex(" ", -3), bytearray(b).hex(sep="_")


@case(DATA)
def kw_memoryview_hex_sep(b):
    m = memoryview(b)
    out = m.hex(sep="|", bytes_per_sep=1)
    m.release()
    return out


@case(TABBED)
def kw_str_expandtabs(s):
    return s.expandtabs(tabsize=4), s.expandtabs(tabsize=1), s.expandtabs(), s.expandtabs(tabsize=0)


@case(TABBED)
def kw_bytes_expandtabs(s):
    return s.encode().expandtabs(tabsize=3)


@case(TABBED)
def kw_str_split_keywords(s):
    return s.split(sep="\t", maxsplit=1), s.rsplit(maxsplit=1), s.splitlines(keepends=True)


@case(TABBED)
def kw_str_encode_decode_keywords(s):
    b = s.encode(encoding="utf-8", errors="strict")
    return b, b.decode(encoding="ascii", errors="replace")


@case([[3, 1, 2], ["b", "A", "c"], []])
def kw_sorted_and_sort(lst):
    c = list(lst)
    c.sort(key=str, reverse=True)
    return sorted(lst, key=repr, reverse=False), c


@case([[3, 1, 2], [], [0]])
def kw_min_max_default_key(lst):
    return min(lst, default=None, key=lambda x: -x), max(lst, default=-1)


@case(NS)
def kw_round_int_pow(n):
    return round(number=n / 3, ndigits=2), int("ff", base=16), pow(base=n, exp=2, mod=97)


@case(NS)
def kw_print_to_string_buffer(n):
    buf = io.StringIO()
    print(n, "x", sep="-", end="!\n", file=buf)
    return buf.getvalue()


@case(NS)
def kw_dict_and_list_keywords(n):
    d = dict(a=n, b=str(n))
    d2 = dict.fromkeys(["x"], n)
    return d, d2, sorted(d, key=str), list(range(n % 5))


@case(NS)
def kw_enumerate_zip_strict(n):
    a = list(range(n % 5))
    try:
        strict = list(zip(a, a + [1], strict=True))
    except ValueError as e:
        strict = "ValueError: " + str(e)
    return list(enumerate(a, start=10)), strict


@case(NS)
def kw_itertools_keywords(n):
    return (list(itertools.islice(itertools.count(start=n, step=2), 3)),
            list(itertools.accumulate([1, 2, 3], initial=n)), list(itertools.zip_longest("ab", "c", fillvalue=n)))


@case(TABBED)
def kw_str_methods_more(s):
    return s.replace("\t", " ", -1), s.center(20, "."), s.ljust(10), s.startswith(("a", "c"), 0, 5), s.count("\t", 1)


@case(NS)
def kw_unexpected_keyword_caught(n):
    out = []
    for call in (lambda: n.to_bytes(lenght=2), lambda: sorted([n], keyy=1), lambda: "x".expandtabs(size=2)):
        try:
            call()
        except TypeError as e:
            out.append(str(e))
    return out


Conformance = conformance_tests(__name__)
