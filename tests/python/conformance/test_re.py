"""re: patterns compiled at module level (main-owned) and the module-level re.* functions,
whose pattern cache is main-owned: a cold run in workers meets cache misses."""
import re

from pxtest import parallel

from .harness import case, conformance_tests

WORD = re.compile(r"\w+")
EMAIL = re.compile(r"(?P<user>[\w.+-]+)@(?P<host>[\w-]+(?:\.[\w-]+)+)")
NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
VERBOSE = re.compile(
    r"""
    (?P<key>[a-z_]+)   # a key
    \s*=\s*
    (?P<value>"[^"]*"|\S+)
    """,
    re.VERBOSE | re.IGNORECASE,
)
UNICODE_WORD = re.compile(r"\b\w+\b", re.UNICODE)
BYTES_PAT = re.compile(rb"[\x00-\x1f]+")

TEXTS = [
    "",
    "hello world",
    "mail bob.smith+tag@example.co.uk and alice@host.org now",
    "numbers: 3, -4.5, +6e10, 7.25E-3 and 2024-02-29",
    "key=value other = \"quoted text\" Third=3",
    "straße café naïve ÆØÅ 日本語",
    "a" * 200 + "b",
]


@case(TEXTS)
def re_compiled_findall(text):
    return WORD.findall(text), NUMBER.findall(text)


@case(TEXTS)
def re_compiled_groupdict(text):
    m = EMAIL.search(text)
    return m.groupdict() if m else None, [m.span() for m in EMAIL.finditer(text)]


@case(TEXTS)
def re_compiled_groups_and_sub(text):
    return DATE.sub(r"\3/\2/\1", text), [m.groups() for m in DATE.finditer(text)]


@case(TEXTS)
def re_compiled_verbose(text):
    return [(m["key"], m["value"]) for m in VERBOSE.finditer(text)]


@case(TEXTS)
def re_compiled_split_and_subn(text):
    return re.compile(r"\s+").split(text, maxsplit=3), WORD.subn(lambda m: m[0][::-1], text)


@case(TEXTS)
def re_compiled_match_fullmatch(text):
    return bool(WORD.match(text)), bool(WORD.fullmatch(text)), WORD.match(text, 1) and WORD.match(text, 1).group()


@case(TEXTS)
def re_unicode_words(text):
    return UNICODE_WORD.findall(text), [w.upper() for w in UNICODE_WORD.findall(text)]


@case([b"", b"a\x00\x01b\x1fc", bytes(range(40))])
def re_bytes_pattern(data):
    return BYTES_PAT.split(data), BYTES_PAT.sub(b"|", data)


@case(TEXTS)
def re_module_findall_literal(text):
    return re.findall("o", text), re.findall(r"\d+", text)


@case(TEXTS)
def re_module_search_match(text):
    m = re.search(r"(\w+)@(\w+)", text)
    return (m.group(0), m.start(), m.end()) if m else None, bool(re.match(r"\s*$", text))


@case(TEXTS)
def re_module_sub_with_function(text):
    return re.sub(r"[aeiou]", lambda m: m.group().upper(), text), re.subn(r"\s", "_", text)


@case(TEXTS)
def re_module_split_flags(text):
    return re.split(r"[,;]\s*|\s+AND\s+", text, flags=re.IGNORECASE), re.fullmatch(r"[a-z ]+", text) is not None


@case(TEXTS)
def re_module_finditer_named_groups(text):
    return [m.groupdict() for m in re.finditer(r"(?P<k>\w+)\s*=\s*(?P<v>\S+)", text)]


@case(TEXTS)
def re_pattern_from_item_cache_miss(text):
    """The pattern depends on the item, and rdtsc makes it new on every call: always a miss."""
    head = re.escape(text[:3])
    pattern = f"{head}(?#{parallel.rdtsc()})"
    return bool(re.match(pattern, text)), len(re.findall(pattern, text))


@case(TEXTS)
def re_compile_inside_callback(text):
    p = re.compile(r"(?i)(?P<first>[a-z])(?P<rest>[a-z]*)")
    return [m.expand(r"\g<rest>\g<first>ay") for m in p.finditer(text)][:10]


@case(["(", "[a-", "a{2,1}", "(?P<1>x)", "ok+"])
def re_error_caught(pattern):
    try:
        return ("compiled", re.compile(pattern + f"(?#{parallel.rdtsc()})").pattern.startswith(pattern))
    except re.error as e:
        return ("re.error", e.msg, e.pos)


@case(TEXTS)
def re_escape_and_lookarounds(text):
    return re.escape(text[:20]), re.findall(r"(?<=\s)\w(?=\w)", text), re.findall(r"\b(\w)(\w*)\1\b", text)


@case(TEXTS)
def re_backtracking_bounded(text):
    return bool(re.match(r"(a|b)*c", text)), bool(re.search(r"(a+)+b", text[-30:]))


@case(TEXTS)
def re_match_object_api(text):
    m = re.search(r"(\w)(\w)?(\d)?", text)
    if not m:
        return None
    return m.group(0, 1, 2), m.groups("-"), m.span(1), m.lastindex, m.re.pattern, m.string == text


@case(TEXTS)
def re_multiline_dotall(text):
    t = text + "\nsecond line\nthird"
    return re.findall(r"^\w+", t, re.M), re.findall(r"line.third", t, re.S), re.findall(r"line.third", t)


Conformance = conformance_tests(__name__)
