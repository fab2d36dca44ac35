"""Patch 0003 (refcount-skip-main-owned): in a context, main-owned objects' refcounts are
left alone and context-owned objects are counted normally."""
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


if __name__ == "__main__":
    unittest.main()
