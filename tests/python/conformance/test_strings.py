"""str methods, slicing, joining, formatting with % and str.format, building strings."""
from .harness import case, conformance_tests

# A codec is imported and cached on its first lookup; imports belong to the main thread.
"".encode("utf-16-le")
WORDS = ["", "a", "hello", "Hello, World", "  padded  ", "tab\tand\nnewline", "CamelCaseWord",
         "snake_case_word", "123abc", "a,b,,c"]


@case(WORDS)
def str_case_methods(s):
    return s.upper(), s.lower(), s.title(), s.capitalize(), s.swapcase(), s.casefold()


@case(WORDS)
def str_predicates(s):
    return (s.isalpha(), s.isdigit(), s.isalnum(), s.isspace(), s.isupper(), s.islower(),
            s.istitle(), s.isidentifier(), s.isprintable(), s.isascii())


@case(WORDS)
def str_strip_family(s):
    return s.strip(), s.lstrip(), s.rstrip(), s.strip("ad "), s.removeprefix("He"), s.removesuffix("ld")


@case(WORDS)
def str_split_family(s):
    return s.split(), s.split(","), s.rsplit(" ", 1), s.splitlines(), s.partition(","), s.rpartition("o")


@case(WORDS)
def str_find_family(s):
    return s.find("o"), s.rfind("o"), s.count("l"), s.startswith("He"), s.endswith(("d", "e")), "ll" in s


@case(WORDS)
def str_index_not_found_caught(s):
    try:
        return s.index("zz")
    except ValueError as e:
        return str(e)


@case(WORDS)
def str_replace_and_translate(s):
    table = str.maketrans("aeiou", "AEIOU", ",")
    return s.replace("l", "L"), s.replace("l", "", 1), s.translate(table)


@case(WORDS)
def str_justify(s):
    return s.center(20, "*"), s.ljust(15, "."), s.rjust(15), s.zfill(12)


@case(WORDS)
def str_slicing(s):
    return s[::-1], s[1:-1], s[::2], s[-3:], s[100:], s[:0]


@case(WORDS)
def str_join_pieces(s):
    return "-".join(s), "".join(reversed(s)), ", ".join(s.split()), "|".join([s, s.upper()])


@case(WORDS)
def str_char_codes(s):
    return [ord(c) for c in s], "".join(chr(ord(c) + 1) for c in s)


@case(WORDS)
def str_repeat_and_concat(s):
    return s * 3, s + "!" + s, (s * 0) == "", len(s * 5)


@case(WORDS)
def str_compare_and_sort(s):
    return s < "m", s == s.lower(), sorted(s), max(s) if s else None, min(s, "zzz")


@case(WORDS)
def str_percent_format(s):
    return "%s|%r|%10s|%-10s|%.3s" % (s, s, s, s, s)


@case([0, 7, -42, 255, 10**6])
def str_percent_numbers(n):
    return "%d %5d %-5d %05d %x %X %o %c" % (n, n, n, n, n, n, n, 65 + abs(n) % 26)


@case(WORDS)
def str_format_method(s):
    return "{0}-{0}-{1}".format(s, len(s)), "{!r:>20}".format(s), "{x}{y}".format(x=s, y=1)


@case(["{}", "{0}{1}", "{:>5}", "{a}", "{", "}"])
def str_format_errors_caught(fmt):
    try:
        return fmt.format("x", "y")
    except (IndexError, KeyError, ValueError) as e:
        return type(e).__name__ + ": " + str(e)


@case(WORDS)
def str_build_with_list_join(s):
    parts = []
    for i, c in enumerate(s):
        parts.append(f"{i}:{c}")
    return ";".join(parts)


@case(WORDS)
def str_encode_ascii(s):
    return s.encode(), s.encode("ascii", "replace"), len(s.encode("utf-16-le"))


@case(WORDS)
def str_count_chars_dict(s):
    counts = {}
    for c in s:
        counts[c] = counts.get(c, 0) + 1
    return counts


@case(WORDS)
def str_words_capitalised(s):
    return " ".join(w[:1].upper() + w[1:] for w in s.replace("_", " ").split())


@case(WORDS)
def str_camel_to_snake(s):
    out = []
    for i, c in enumerate(s):
        if c.isupper() and i:
            out.append("_")
        out.append(c.lower())
    return "".join(out)


@case(WORDS)
def str_expandtabs_and_splitlines_keepends(s):
    return s.expandtabs(4), s.splitlines(True)


@case(["racecar", "level", "hello", "", "A man a plan"])
def str_palindrome(s):
    t = "".join(c.lower() for c in s if c.isalnum())
    return t == t[::-1]


@case(WORDS)
def str_iter_and_unpack(s):
    first, *rest = s or "?"
    return first, rest, list(iter(s))[:3]


@case(WORDS)
def str_hash_stable(s):
    return hash(s) == hash(s[:]), hash(s) == hash("".join(list(s)))


@case(["3.14", "-0.5", "1e10", "inf", "nan", "abc", " 7 "])
def str_to_float_caught(s):
    try:
        v = float(s)
        return repr(v)
    except ValueError as e:
        return str(e)


Conformance = conformance_tests(__name__)
