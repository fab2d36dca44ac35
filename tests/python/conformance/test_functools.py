"""functools: reduce, partial, cmp_to_key, total_ordering, cached_property, singledispatch, wraps,
lru_cache made per call, and an lru_cache on a main-owned function whose cache must survive."""
import functools
import operator
import typing  # noqa: F401  singledispatch.register imports it lazily; imports belong to main
import unittest

from pxtest import parallel

from .harness import case, conformance_tests

NS = [0, 1, 5, 12]
MAIN_PARTIAL = functools.partial(int, base=2)
MAIN_PARTIAL_POW = functools.partial(pow, 2)


@case(NS)
def ft_reduce(n):
    data = list(range(1, n + 2))
    return (functools.reduce(operator.add, data), functools.reduce(operator.mul, data, 1),
            functools.reduce(lambda a, b: a * 10 + b, data, 0), functools.reduce(max, data))


@case(NS)
def ft_reduce_empty_caught(n):
    try:
        return functools.reduce(operator.add, range(n * 0))
    except TypeError as e:
        return "TypeError: " + str(e)


@case(["101", "0", "1111111111"])
def ft_main_owned_partials(s):
    return MAIN_PARTIAL(s), MAIN_PARTIAL_POW(len(s)), MAIN_PARTIAL.keywords, MAIN_PARTIAL.args


@case(NS)
def ft_partial_made_in_callback(n):
    fmt = functools.partial("{}-{}-{sep}".format, n, sep="|")
    scale = functools.partial(operator.mul, n)
    nested = functools.partial(functools.partial(max, n), 3)
    return fmt("x"), list(map(scale, range(4))), nested(1), fmt.args, fmt.keywords


@case(NS)
def ft_cmp_to_key(n):
    def cmp(a, b):
        return (a % 3 - b % 3) or (b - a)

    return sorted(range(n + 5), key=functools.cmp_to_key(cmp))


@case(NS)
def ft_total_ordering_class_inside(n):
    @functools.total_ordering
    class Version:
        def __init__(self, *parts):
            self.parts = parts

        def __eq__(self, other):
            return self.parts == other.parts

        def __lt__(self, other):
            return self.parts < other.parts

    a, b = Version(1, n), Version(1, 3)
    return a <= b, a > b, a >= b, a != b


@case(NS)
def ft_cached_property_inside(n):
    calls = []

    class Data:
        @functools.cached_property
        def heavy(self):
            calls.append(1)
            return sum(range(n * 100))

    d = Data()
    return d.heavy, d.heavy, len(calls)


@case([1, "s", 2.5, [1, 2], None])
def ft_singledispatch_inside(x):
    @functools.singledispatch
    def show(v):
        return "object"

    @show.register
    def _(v: int):
        return f"int {v}"

    @show.register(str)
    def _(v):
        return f"str {v}"

    @show.register(list)
    def _(v):
        return [show(i) for i in v]

    return show(x)


@case(NS)
def ft_wraps_metadata(n):
    def deco(f):
        @functools.wraps(f)
        def wrapper(*a):
            return f(*a) + n

        return wrapper

    @deco
    def documented(x):
        """Adds things."""
        return x

    return documented(1), documented.__name__, documented.__doc__, documented.__wrapped__(1)


@case(NS)
def ft_lru_cache_made_in_callback(n):
    @functools.lru_cache(maxsize=16)
    def fib(k):
        return k if k < 2 else fib(k - 1) + fib(k - 2)

    value = fib(n * 5)
    info = fib.cache_info()
    fib.cache_clear()
    return value, (info.hits, info.misses, info.maxsize, info.currsize), fib.cache_info().currsize


@case(NS)
def ft_cache_unbounded_made_in_callback(n):
    @functools.cache
    def tri(k):
        return 0 if k == 0 else k + tri(k - 1)

    return tri(n * 10), tri.cache_info().currsize


@case(NS)
def ft_partialmethod_inside(n):
    class Cell:
        def __init__(self):
            self.state = None

        def set_state(self, value):
            self.state = value
            return self

        set_on = functools.partialmethod(set_state, True)

    return Cell().set_on().state, n


# ---- lru_cache on a main-owned function ------------------------------------------------------

@functools.lru_cache(maxsize=None)
def main_square_unbounded(x):
    return (x * x, str(x))


@functools.lru_cache(maxsize=64)
def main_square_bounded(x):
    return (x * x, str(x))


def call_unbounded(x):
    return main_square_unbounded(x)


def call_bounded(x):
    return main_square_bounded(x)


class MainOwnedLruCache(unittest.TestCase):
    """Callbacks call an lru_cache'd main function: hits on keys the main thread cached, misses on
    others. Whatever the callbacks did, afterwards on the main thread the cache must be consistent:
    every key the main thread cached is still a hit returning the right value, a key is a miss at
    most once, currsize counts the keys it holds, and cache_clear() empties it."""

    def check(self, cached, caller, maxsize):
        cached.cache_clear()
        warm = list(range(0, 40, 2))  # cached on main before the parallel run
        for x in warm:
            cached(x)
        before = cached.cache_info()
        self.assertEqual((before.hits, before.misses, before.currsize), (0, len(warm), len(warm)))

        items = list(range(40)) * 3  # hits on even keys, misses on odd ones
        got = parallel.map(caller, items)
        self.assertEqual(got, [(x * x, str(x)) for x in items])
        again = parallel.map(caller, items, workers=2)
        self.assertEqual(again, got)

        after = cached.cache_info()
        self.assertEqual(after.maxsize, maxsize)
        self.assertGreaterEqual(after.currsize, len(warm), f"keys cached on main were lost: {after}")
        self.assertLessEqual(after.currsize, 40, f"more entries than distinct keys: {after}")
        self.assertGreaterEqual(after.hits, 0)
        self.assertGreaterEqual(after.misses, before.misses)

        # Every key the main thread cached is still a hit, with the right value.
        for x in warm:
            hits = cached.cache_info().hits
            self.assertEqual(cached(x), (x * x, str(x)))
            self.assertEqual(cached.cache_info().hits, hits + 1, f"key {x} cached on main is no longer a hit")
        # Every other key: right value, then a hit; currsize grows by one per miss.
        for x in range(1, 40, 2):
            info = cached.cache_info()
            self.assertEqual(cached(x), (x * x, str(x)))
            now = cached.cache_info()
            if now.misses == info.misses + 1:
                self.assertEqual(now.currsize, info.currsize + 1)
            else:
                self.assertEqual((now.hits, now.currsize), (info.hits + 1, info.currsize))
            self.assertEqual(cached(x), (x * x, str(x)))
            self.assertEqual(cached.cache_info().hits, now.hits + 1)
        self.assertEqual(cached.cache_info().currsize, 40)

        cached.cache_clear()
        self.assertEqual(cached.cache_info(), functools._CacheInfo(0, 0, maxsize, 0))
        self.assertEqual(cached(3), (9, "3"))
        self.assertEqual(parallel.map(caller, [3, 4]), [(9, "3"), (16, "4")])

    def test_unbounded_main_lru_cache_stays_consistent(self):
        self.check(main_square_unbounded, call_unbounded, None)

    def test_bounded_main_lru_cache_stays_consistent(self):
        self.check(main_square_bounded, call_bounded, 64)

    def test_cold_main_lru_cache_called_only_in_callbacks(self):
        main_square_bounded.cache_clear()
        got = parallel.map(call_bounded, list(range(100)), workers=2)
        self.assertEqual(got, [(x * x, str(x)) for x in range(100)])
        info = main_square_bounded.cache_info()
        self.assertLessEqual(info.currsize, 64)
        for x in range(100):
            self.assertEqual(main_square_bounded(x), (x * x, str(x)))
        self.assertLessEqual(main_square_bounded.cache_info().currsize, 64)


Conformance = conformance_tests(__name__)
