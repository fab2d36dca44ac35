"""Patch 0002 (tstate-thread-local): each thread has its own current thread state."""
import unittest

import parallel

from pxhook import run_fresh


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


class WorkerStateTest(unittest.TestCase):
    def test_exit_after_callbacks_that_caught_exceptions(self):
        """A caught exception leaves None in the worker's exc_info without a counted
        reference; the thread state must drop it in the context, or the interpreter's exit
        takes references None never had ("deallocating None" at exit, every run)."""
        code = """if True:
            import parallel
            def f(i):
                try:
                    {}["missing"]
                except KeyError as e:
                    return type(e).__name__
            for _ in range(3):
                assert parallel.map(f, range(100), workers=2) == ["KeyError"] * 100
            print("ok")
        """
        r = run_fresh(code)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "ok"), r.stderr[-2000:])


if __name__ == "__main__":
    unittest.main()
