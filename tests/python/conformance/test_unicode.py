"""Non-ASCII text: case mapping, normalisation, encodings, width, identifiers, eval of main
strings (the UTF-8 cache of a main-owned string must not be filled from a context)."""
import unicodedata

from .harness import case, conformance_tests

TEXTS = ["", "straße", "İstanbul ıi", "ÆØÅ æøå", "Ελληνικά", "Кириллица", "日本語テキスト", "한국어", "עברית",
         "emoji 😀👍🏽🇫🇷", "e\u0301 é", "ﬁ ligature", "\u00a0nbsp\u2003em", "Ǆǅǆ"]
# A codec is imported and cached on its first lookup; imports belong to the main thread.
for _codec in ("utf-16", "utf-32-le", "cp1252", "koi8-r", "shift_jis", "unicode_escape", "raw_unicode_escape"):
    "".encode(_codec)
EXPRESSIONS = ["'é' * 3", "len('日本語')", "'ß'.upper()", "[c for c in 'ÿü']", "'\\u00e9' == 'é'", "{'ключ': 1}"]


@case(TEXTS)
def uni_case_mapping(s):
    return s.upper(), s.lower(), s.casefold(), s.title(), s.swapcase(), s.capitalize()


@case(TEXTS)
def uni_lengths_and_code_points(s):
    return len(s), [hex(ord(c)) for c in s][:8], max(map(ord, s), default=0), s[::-1]


@case(TEXTS)
def uni_normalization(s):
    return [unicodedata.normalize(form, s) for form in ("NFC", "NFD", "NFKC", "NFKD")], unicodedata.is_normalized(
        "NFC", s)


@case(TEXTS)
def uni_names_and_categories(s):
    return [(unicodedata.category(c), unicodedata.name(c, "?"), unicodedata.east_asian_width(c)) for c in s[:6]]


@case(TEXTS)
def uni_encode_many_codecs(s):
    out = [s.encode("utf-8"), s.encode("utf-16"), s.encode("utf-32-le"), s.encode("utf-8", "surrogatepass")]
    for codec in ("latin-1", "ascii", "cp1252", "koi8-r", "shift_jis"):
        out.append(s.encode(codec, "replace"))
        out.append(s.encode(codec, "xmlcharrefreplace"))
    return out


@case(TEXTS)
def uni_encode_strict_caught(s):
    try:
        return s.encode("latin-1")
    except UnicodeEncodeError as e:
        return ("UnicodeEncodeError", e.encoding, e.start, e.end, e.reason)


@case(TEXTS)
def uni_decode_roundtrip(s):
    b = s.encode("utf-8")
    return b.decode("utf-8") == s, b.decode("utf-8", "backslashreplace") == s, b[:5].decode("utf-8", "ignore")


@case(TEXTS)
def uni_escape_codecs(s):
    return s.encode("unicode_escape"), s.encode("raw_unicode_escape"), ascii(s), repr(s)


@case(TEXTS)
def uni_predicates(s):
    return [(c.isalpha(), c.isnumeric(), c.isspace(), c.isupper(), c.isprintable()) for c in s[:5]], s.isidentifier()


@case(["١٢٣", "٣.٥", "๑๒", "１２３", "Ⅻ", "²"])
def uni_numeric_parsing(s):
    out = []
    for conv in (int, float):
        try:
            out.append(repr(conv(s)))
        except ValueError:
            out.append("ValueError")
    return out, [unicodedata.numeric(c, None) for c in s], [unicodedata.decimal(c, None) for c in s]


@case(TEXTS)
def uni_split_join_replace(s):
    return s.split(), "·".join(s), s.replace("é", "E"), s.center(20, "★"), s.partition(" ")


@case(TEXTS)
def uni_sorting_and_compare(s):
    return sorted(s), sorted(s.split(), key=str.casefold), s < "z", s == unicodedata.normalize("NFC", s)


@case(TEXTS)
def uni_str_building(s):
    out = ""
    for c in s:
        out += c + "\u200b"
    return out, "".join(reversed(s)), s * 2


@case(EXPRESSIONS)
def uni_eval_main_string(expr):
    return eval(expr)


@case(EXPRESSIONS)
def uni_compile_main_string(expr):
    code = compile(expr, "<uni>", "eval")
    return eval(code), code.co_filename


@case(TEXTS)
def uni_identifiers_as_attribute_names(s):
    name = "".join(c for c in s if c.isalnum()) or "x"
    if not name.isidentifier():
        name = "_" + name

    class Obj:
        pass

    o = Obj()
    setattr(o, name, len(s))
    return getattr(o, name), name in vars(o), unicodedata.normalize("NFKC", name) in dir(o)


@case(TEXTS)
def uni_str_format_width(s):
    return f"[{s:<15}]", "%-12s|" % s, "{:^10.3}".format(s)


@case(TEXTS)
def uni_surrogates_caught(s):
    t = s + "\ud800"
    try:
        return t.encode("utf-8")
    except UnicodeEncodeError as e:
        return "UnicodeEncodeError", e.start, t.encode("utf-8", "surrogatepass")[-3:]


Conformance = conformance_tests(__name__)
