"""itertools: every iterator built and consumed inside the callback."""
import itertools
import operator

from .harness import case, conformance_tests

NS = [0, 1, 3, 6]
SEQS = ["", "a", "abc", "aabbbcdd", "mississippi"]


@case(NS)
def it_accumulate(n):
    data = list(range(1, n + 3))
    return (list(itertools.accumulate(data)), list(itertools.accumulate(data, operator.mul)),
            list(itertools.accumulate(data, max, initial=100)))


@case(NS)
def it_chain_and_from_iterable(n):
    return list(itertools.chain(range(n), "xy", [None])), list(itertools.chain.from_iterable([[i] * i for i in range(n)]))


@case(NS)
def it_combinatorics(n):
    items = "abcd"[: min(n, 4)]
    return (list(itertools.combinations(items, 2)), list(itertools.permutations(items, 2)),
            list(itertools.combinations_with_replacement(items, 2)), len(list(itertools.product(items, repeat=3))))


@case(NS)
def it_product_multiple(n):
    return list(itertools.product(range(n % 3 + 1), "ab", [True]))


@case(SEQS)
def it_groupby_runs(s):
    return [(k, len(list(g))) for k, g in itertools.groupby(s)], [k for k, _ in itertools.groupby(sorted(s))]


@case(SEQS)
def it_groupby_key(s):
    words = s.split("s") if s else []
    return {k: list(g) for k, g in itertools.groupby(sorted(words, key=len), key=len)}


@case(NS)
def it_islice_count_cycle_repeat(n):
    return (list(itertools.islice(itertools.count(5, 3), n)), list(itertools.islice(itertools.cycle("ab"), n * 2)),
            list(itertools.repeat("r", n)), list(itertools.islice(range(100), 2, 20, n + 1)))


@case(NS)
def it_takewhile_dropwhile_filterfalse_compress(n):
    data = [1, 4, 6, 4, 1, 7, n]
    return (list(itertools.takewhile(lambda x: x < 5, data)), list(itertools.dropwhile(lambda x: x < 5, data)),
            list(itertools.filterfalse(lambda x: x % 2, data)), list(itertools.compress(data, [1, 0, 1, 0, 1])))


@case(NS)
def it_starmap_zip_longest_pairwise(n):
    return (list(itertools.starmap(pow, [(2, i) for i in range(n)])),
            list(itertools.zip_longest(range(n), "abcde", fillvalue="-")), list(itertools.pairwise(range(n + 1))))


@case(NS)
def it_tee(n):
    a, b = itertools.tee(iter(range(n + 2)))
    first = next(a)
    return first, list(b), list(a)


@case(SEQS)
def it_main_items_zipped(s):
    return list(zip(s, itertools.count())), list(enumerate(itertools.islice(s, 3), start=10))


@case(NS)
def it_batches_with_islice(n):
    it = iter(range(n * 5))
    batches = []
    while batch := list(itertools.islice(it, 4)):
        batches.append(tuple(batch))
    return batches


@case(NS)
def it_sorted_product_sums(n):
    dice = range(1, n + 2)
    sums = [a + b for a, b in itertools.product(dice, dice)]
    return sorted(set(sums)), max(sums.count(s) for s in set(sums))


@case(NS)
def it_permutations_as_strings(n):
    return ["".join(p) for p in itertools.permutations("xyz"[: n % 4])]


Conformance = conformance_tests(__name__)
