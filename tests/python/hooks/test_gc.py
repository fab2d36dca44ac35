"""Patch 0005 (gc-off-in-contexts): contexts never link objects into the GC's lists, never
count them and never collect; deallocs in contexts untrack never-tracked objects."""
import gc
import unittest

import parallel

from pxhook import run_fresh


def churn(n):
    total = 0
    for i in range(n):
        class Local:  # a class per iteration: a GC type with a dict, weakref list, MRO tuple
            pass

        cycle = [Local()]
        cycle.append(cycle)
        f = lambda y, i=i: y + i  # noqa: E731 - a function object dies each iteration
        d = {"k": [i], "t": (i, str(i))}
        total += f(1) + len(d) + len(cycle)
        del cycle, f, d
    return total


def collect_in_context(_):
    return gc.collect(), gc.collect(2)


class GcTest(unittest.TestCase):
    def test_churn_in_two_contexts(self):
        expected = churn(500)
        self.assertEqual(parallel.map(churn, [500] * 8, workers=2), [expected] * 8)
        gc.collect()
        self.assertEqual(parallel.map(churn, [50] * 4, workers=2), [churn(50)] * 4)

    def test_collect_in_context_does_nothing(self):
        self.assertEqual(parallel.map(collect_in_context, range(4), workers=2), [(0, 0)] * 4)

    def test_main_collector_after_contexts(self):
        """The main thread's generation lists never see context objects: a full collection
        after contexts ran (poison mode on, so a stale link faults) finds them consistent."""
        code = """if True:
            import gc, parallel
            def churn(n):
                out = []
                for i in range(n):
                    class C: pass
                    c = [C(), {i: (i,)}]
                    c.append(c)
                    out.append(len(c))
                return sum(out)
            for _ in range(5):
                assert parallel.map(churn, [300] * 6, workers=2) == [900] * 6
                print(gc.collect() >= 0, gc.get_count()[0] < 100000)
        """
        r = run_fresh(code)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        self.assertEqual(r.stdout.split(), ["True"] * 10)


if __name__ == "__main__":
    unittest.main()
