"""bisect on main-owned sorted lists (read) and on lists built in the callback (insort)."""
import bisect

from .harness import case, conformance_tests

SORTED = list(range(0, 1000, 7))
RECORDS = sorted([(n * 13 % 101, f"r{n}") for n in range(60)])
KEYS = [r[0] for r in RECORDS]
PROBES = [-5, 0, 7, 8, 500, 994, 2000]


@case(PROBES)
def bisect_left_right_on_main_list(x):
    return bisect.bisect_left(SORTED, x), bisect.bisect_right(SORTED, x), bisect.bisect(SORTED, x)


@case(PROBES)
def bisect_with_lo_hi(x):
    return bisect.bisect_left(SORTED, x, 10, 50), bisect.bisect_right(SORTED, x, hi=20)


@case(PROBES)
def bisect_with_key(x):
    i = bisect.bisect_left(RECORDS, x % 101, key=lambda r: r[0])
    return i, RECORDS[i] if i < len(RECORDS) else None


@case(PROBES)
def bisect_index_lookup(x):
    i = bisect.bisect_left(SORTED, x)
    return i < len(SORTED) and SORTED[i] == x


@case(PROBES)
def bisect_grade_table(score):
    breakpoints, grades = [60, 70, 80, 90], "FDCBA"
    return grades[bisect.bisect(breakpoints, score % 101)]


@case([0, 3, 50])
def insort_into_local_list(n):
    out = []
    for i in range(n):
        bisect.insort(out, (i * 17) % 23)
    bisect.insort_left(out, 5)
    bisect.insort_right(out, 5)
    return out


@case([0, 3, 50])
def insort_with_key_local(n):
    out = []
    for i in range(n):
        bisect.insort(out, (f"k{i % 7}", i), key=lambda t: t[0])
    return out


@case(PROBES)
def bisect_on_local_copy_of_main(x):
    local = SORTED[:]
    bisect.insort(local, x)
    return local.index(x), len(local), local == sorted(local)


@case(PROBES)
def bisect_range_count(x):
    lo = bisect.bisect_left(KEYS, x % 101 - 10)
    hi = bisect.bisect_right(KEYS, x % 101 + 10)
    return hi - lo, KEYS[lo:hi]


@case(["apple", "fig", "kiwi", "zzz", ""])
def bisect_on_strings(s):
    words = ["apple", "banana", "cherry", "fig", "grape", "kiwi"]
    return bisect.bisect_left(words, s), bisect.bisect_right(words, s)


Conformance = conformance_tests(__name__)
