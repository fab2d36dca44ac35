"""Patch 0002 (tstate-thread-local): each thread has its own current thread state."""
import unittest

import parallel


class ThreadStateTest(unittest.TestCase):
    def test_worker_swap_leaves_main_state_alone(self):
        seen = parallel._probe_tstate()
        self.assertEqual(seen["worker_sees_own"], 1, seen)
        self.assertEqual(seen["worker_none_after_swap_out"], 1, seen)
        self.assertEqual(seen["main_sees_own_while_worker_runs"], 1, seen)
        self.assertEqual(seen["main_sees_own_after"], 1, seen)

    def test_repeated_probes(self):
        for _ in range(20):
            self.assertEqual(parallel._probe_tstate()["main_sees_own_after"], 1)


if __name__ == "__main__":
    unittest.main()
