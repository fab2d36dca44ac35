"""Patch 0018 (allocator-entry-points): a context's allocations come from its own heap."""
import sys
import sysconfig
import unittest

import parallel


def _make_and_drop(n):
    # Each str, list and dict here goes through PyObject_Malloc or PyMem_Malloc.
    rows = [{"k": str(i) * 3, "v": [i, i + 1]} for i in range(n)]
    return sum(len(r["k"]) for r in rows)


class AllocatorTest(unittest.TestCase):
    def test_callback_allocations_land_in_the_context_heap(self):
        before = {h["worker"]: h["allocations"] for h in parallel._heap_stats()}
        parallel.map(_make_and_drop, [20_000], workers=1)
        after = {h["worker"]: h["allocations"] for h in parallel._heap_stats()}
        grown = sum(after[w] - before.get(w, 0) for w in after)
        # 20,000 rows of a dict, a str and a list each: at least 60,000 heap allocations.
        self.assertGreaterEqual(grown, 60_000, (before, after))

    @unittest.skipUnless(sysconfig.get_config_var("WITH_PYMALLOC"),
                         "getallocatedblocks() counts pymalloc's blocks; asan and tsan have none")
    def test_main_thread_blocks_stay_with_pymalloc(self):
        blocks = sys.getallocatedblocks()
        keep = [str(i) * 3 for i in range(10_000)]
        self.assertGreaterEqual(sys.getallocatedblocks() - blocks, 9_000)
        del keep

    def test_context_results_are_main_memory(self):
        # The results outlive the rewind: they are cloned onto the main heap, so using them
        # afterwards (poison mode faults on rewound memory) reads main memory.
        out = parallel.map(lambda i: {"s": "x" * (i + 100), "l": list(range(i))}, range(50),
                           workers=2)
        parallel.map(_make_and_drop, [5_000, 5_000], workers=2)  # rewinds both heaps again
        self.assertEqual([len(o["s"]) for o in out], [i + 100 for i in range(50)])
        self.assertEqual(sum(len(o["l"]) for o in out), sum(range(50)))


if __name__ == "__main__":
    unittest.main()
