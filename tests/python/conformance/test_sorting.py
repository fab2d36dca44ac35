"""sorted() and list.sort() on local copies, with key=, reverse=, stability, mixed keys."""
import operator

from .harness import case, conformance_tests

LISTS = [[], [1], [3, 1, 2], [5, -1, 5, 0, 3, 3, -7], list(range(50, 0, -3)), [2.5, -0.0, 0.0, 1e-9, -1e9]]
WORDS = [["banana", "Apple", "cherry", "apple", "Banana", "date"], ["b", "a"], [], ["ü", "u", "z", "a", "É", "e"]]
RECORDS = [[("bob", 25, 3.5), ("alice", 30, 2.0), ("carol", 25, 1.0), ("dave", 30, 3.5), ("eve", 22, 2.0)]]


@case(LISTS)
def sort_sorted_and_reverse(lst):
    return sorted(lst), sorted(lst, reverse=True), list(reversed(sorted(lst)))


@case(LISTS)
def sort_list_sort_on_copy(lst):
    c = list(lst)
    c.sort()
    d = list(lst)
    d.sort(reverse=True, key=abs)
    return c, d


@case(LISTS)
def sort_key_functions(lst):
    return sorted(lst, key=abs), sorted(lst, key=lambda x: (x % 3, -x)), sorted(lst, key=str)


@case(WORDS)
def sort_strings_key_casefold_len(words):
    return sorted(words), sorted(words, key=str.lower), sorted(words, key=len), sorted(words, key=lambda w: w[::-1])


@case(WORDS)
def sort_stability(words):
    return sorted(words, key=lambda w: w[:1].lower()), sorted(sorted(words), key=len, reverse=True)


@case(RECORDS)
def sort_records_itemgetter(records):
    return (sorted(records, key=operator.itemgetter(1)), sorted(records, key=operator.itemgetter(1, 0)),
            sorted(records, key=lambda r: (-r[2], r[0])))


@case(RECORDS)
def sort_records_multi_pass(records):
    out = sorted(records, key=operator.itemgetter(0))
    out.sort(key=operator.itemgetter(2), reverse=True)
    out.sort(key=operator.itemgetter(1))
    return out


@case(LISTS)
def sort_min_max_key(lst):
    if not lst:
        return max(lst, default="empty"), min(lst, default="empty")
    return max(lst, key=abs), min(lst, key=lambda x: (x > 0, x)), max(enumerate(lst), key=operator.itemgetter(1))


@case(LISTS)
def sort_mixed_types_caught(lst):
    try:
        return sorted(lst + ["str"])
    except TypeError as e:
        return "TypeError: " + str(e)


@case([0, 10, 1000])
def sort_large_random_like(n):
    data = [(i * 7919) % 1009 for i in range(n)]
    s = sorted(data)
    return s[:5], s[-5:], all(a <= b for a, b in zip(s, s[1:]))


@case([0, 10, 500])
def sort_objects_with_lt(n):
    class Job:
        __slots__ = ("prio", "name")

        def __init__(self, prio, name):
            self.prio, self.name = prio, name

        def __lt__(self, other):
            return self.prio < other.prio

    jobs = [Job((i * 31) % 17, f"j{i}") for i in range(n)]
    return [j.name for j in sorted(jobs)][:10]


@case(LISTS)
def sort_attrgetter_on_local_objects(lst):
    class V:
        def __init__(self, v):
            self.v, self.neg = v, -v

    objs = [V(x) for x in lst]
    return [o.v for o in sorted(objs, key=operator.attrgetter("neg"))]


@case(WORDS)
def sort_dict_by_value(words):
    counts = {w: len(w) * (i + 1) for i, w in enumerate(words)}
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))), sorted(counts, key=counts.get)


@case(LISTS)
def sort_key_raises_caught(lst):
    def bad(x):
        if x == 3:
            raise ValueError("three")
        return x

    c = list(lst)
    try:
        c.sort(key=bad)
        return "sorted", c
    except ValueError as e:
        return "ValueError", str(e), c == lst


Conformance = conformance_tests(__name__)
