"""Patches 0003 (refcount-skip-main-owned) and 0004 (refcount-skip-repeat): in a context,
main-owned objects' refcounts are left alone and context-owned objects are counted normally."""
import math
import sys
import unittest

import parallel


class RefcountTest(unittest.TestCase):
    def check(self, obj):
        before = sys.getrefcount(obj)
        seen = parallel._probe_refcount(obj)
        self.assertEqual(sys.getrefcount(obj), before)
        self.assertEqual(seen["main_after_incref"], seen["main_before"], seen)
        self.assertEqual(seen["main_after_decref"], seen["main_before"], seen)
        self.assertEqual(seen["ctx_in_heap"], 1, seen)
        self.assertEqual(seen["ctx_before"], 1, seen)
        self.assertEqual(seen["ctx_after_incref"], 2, seen)
        self.assertEqual(seen["ctx_after_decref"], 1, seen)

    def test_main_owned_object(self):
        self.check(object())

    def test_main_owned_singleton_and_str(self):
        self.check(None)
        self.check("interned")


MAIN_ITEM = object()


def repeat(_):
    a = [MAIN_ITEM] * 1000
    b = (MAIN_ITEM,) * 1000
    c = [MAIN_ITEM, MAIN_ITEM] * 500
    d = (MAIN_ITEM, None) * 500
    return len(a) + len(b) + len(c) + len(d)


class RepeatTest(unittest.TestCase):
    def test_repeat_leaves_main_refcounts(self):
        """Patch 0004: list/tuple repetition adds n to each item's refcount directly."""
        before = sys.getrefcount(MAIN_ITEM)
        none_before = sys.getrefcount(None)
        self.assertEqual(parallel.map(repeat, range(100), workers=2), [4000] * 100)
        self.assertEqual(sys.getrefcount(MAIN_ITEM), before)
        # None is shared by everything, so only a gross drift would show; 10^5 would.
        self.assertLess(abs(sys.getrefcount(None) - none_before), 10000)


# Held once, by this list: a refcount of 1, which a context does not raise (patch 0003).
UNIQUE_INTS = [-(2**100) + 1, -(10**30), 2**64 * 3]


def negate_and_gcd(x):
    m = (1 << 127) - 1
    return pow(x, 65537, m), -x, abs(x), math.gcd(x, 2**64 * 9)


class UniquenessTest(unittest.TestCase):
    def test_unique_main_ints_stay_unchanged(self):
        """Patch 0014: int negation and gcd reuse an int whose refcount is 1 in place."""
        before = list(map(str, UNIQUE_INTS))
        results = parallel.map(negate_and_gcd, UNIQUE_INTS, workers=2)
        self.assertEqual(list(map(str, UNIQUE_INTS)), before)
        self.assertEqual(results, [negate_and_gcd(x) for x in UNIQUE_INTS])

    def test_bytes_concat_keeps_main_bytes(self):
        self.assertEqual(parallel.map(concat, range(4), workers=2), [b"abc" + b"x" * 50] * 4)
        self.assertEqual(MAIN_BYTES[0], b"abc")


MAIN_BYTES = [b"".join([b"a", b"bc"])]


def concat(_):
    b = MAIN_BYTES[0]
    for _ in range(50):
        b += b"x"
    return b


if __name__ == "__main__":
    unittest.main()


def add_one(x):
    return x + 1


class RegionOnlyTest(unittest.TestCase):
    """Patch 0027: the interpreter finds context memory by its address in the heap region, so
    contexts do not start while a heap in malloc mode (whose blocks lie outside it) exists."""

    def tearDown(self):
        parallel._probe_malloc_mode_heap(False)

    def test_contexts_refuse_to_start_beside_a_malloc_mode_heap(self):
        parallel._probe_malloc_mode_heap(True)
        with self.assertRaisesRegex(RuntimeError, "malloc_per_allocation mode"):
            parallel.map(add_one, [1, 2])
        with self.assertRaisesRegex(RuntimeError, "malloc_per_allocation mode"):
            parallel.run_once(0)
        parallel._probe_malloc_mode_heap(False)
        self.assertEqual(parallel.map(add_one, [1, 2]), [2, 3])
