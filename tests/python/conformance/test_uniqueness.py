"""Code paths that reuse or resize an object in place when its refcount is 1: zip and
dict-items result tuples, enumerate, `s += 'x'` on str and bytes, list/tuple building.
In a context, refcounts of main-owned objects are not kept, so these must never treat a
main-owned object as uniquely referenced (and must still work on context-owned ones)."""
from .harness import case, conformance_tests

MAIN_A = list(range(10))
MAIN_B = [chr(97 + i) for i in range(10)]
MAIN_D = {f"k{i}": i for i in range(12)}
STRINGS = ["", "x", "main string", "ünïcode ✓", "a" * 100]


@case([0, 3, 10])
def uniq_list_zip_main_lists(n):
    return list(zip(MAIN_A[:n], MAIN_B))


@case([0, 3, 10])
def uniq_list_zip_local_lists(n):
    a = list(range(n))
    b = [str(i) for i in a]
    return list(zip(a, b, a))


@case([0, 3, 10])
def uniq_zip_tuples_kept_and_dropped(n):
    kept = []
    for i, pair in enumerate(zip(MAIN_A, MAIN_B)):
        if i % 2 == 0:
            kept.append(pair)
    return kept[: n + 1], [p for p in zip(range(n), range(n))]


@case([0, 3, 12])
def uniq_list_dict_items_main(n):
    return list(MAIN_D.items())[:n], [kv for kv in MAIN_D.items() if kv[1] % 3 == 0]


@case([0, 3, 12])
def uniq_dict_items_unpack_loop(n):
    total = 0
    names = []
    for k, v in MAIN_D.items():
        total += v
        if v < n:
            names.append(k)
    return total, names


@case([0, 3, 12])
def uniq_local_dict_items_and_values(n):
    d = {i: str(i) for i in range(n)}
    return list(d.items()), list(d.values()), list(d.keys()), sorted(d.items(), reverse=True)


@case(STRINGS)
def uniq_enumerate_main_string(s):
    return list(enumerate(s)), [(i, c) for i, c in enumerate(s, 1) if i % 2]


@case([0, 3, 10])
def uniq_enumerate_main_list(n):
    return list(enumerate(MAIN_B[:n])), list(enumerate(MAIN_A))[-2:]


@case(STRINGS)
def uniq_str_iadd_from_main_string(s):
    t = s
    for i in range(20):
        t += "x"
    return t, s, len(t) - len(s)


@case(STRINGS)
def uniq_str_iadd_local_loop(s):
    out = ""
    for c in s:
        out += c
        out += "-"
    return out


@case(STRINGS)
def uniq_str_concat_both_sides(s):
    t = s
    t = t + "!"
    u = "!" + s
    v = s
    v += s
    return t, u, v, s


@case(STRINGS)
def uniq_str_iadd_while_aliased(s):
    a = s + "start"
    b = a
    a += "more"
    return a, b, a is not b


@case([b"", b"abc", b"\x00\xff"])
def uniq_bytes_iadd(b):
    t = b
    for i in range(10):
        t += bytes([i])
    return t, b


@case([(), (1,), (1, 2, 3)])
def uniq_tuple_concat_main(t):
    u = t
    u += (9,)
    return u, t, t + t


@case([0, 3, 10])
def uniq_list_iadd_local_copy_of_main(n):
    c = MAIN_A[:n]
    c += MAIN_B[:n]
    c *= 2
    return c, MAIN_A[:n]


@case(STRINGS)
def uniq_join_of_main_parts(s):
    return "".join([s, s]), "+".join(MAIN_B), s.join(["<", ">"])


@case([0, 3, 12])
def uniq_dict_items_nested_in_result(n):
    items = list(MAIN_D.items())
    return {"items": items[:n], "first": items[0], "again": items[0]}


@case(STRINGS)
def uniq_str_replace_same_result(s):
    t = s.replace("zzz", "y")
    u = s.strip("\x00")
    return t == s, u == s, t, s[:]


@case([0, 3, 10])
def uniq_sum_of_tuples_and_lists(n):
    return sum([(i,) for i in range(n)], ()), sum([[i] for i in range(n)], [])


@case(STRINGS)
def uniq_str_build_with_format_and_iadd(s):
    acc = s
    for i in range(5):
        acc += f"{i}"
        acc = acc + ""
    return acc


Conformance = conformance_tests(__name__)
