"""Patch 0006 (freelists-main-only): contexts neither pop nor push the float, tuple, list,
dict, dict-keys, slice and dtoa caches, so two contexts never get the same object and the
main thread never gets rewound memory from them."""
import unittest

import parallel

from pxhook import run_fresh


def churn(n):
    acc = 0.0
    keep = []
    for i in range(n):
        x = i * 0.5 + 1.25          # float freelist
        t = (i, x, str(i))          # tuple freelists
        l = [t, i]                  # list freelist
        d = {"a": i, "b": l}        # dict + keys freelists
        s = l[0:1]                  # slice cache
        acc += x + len(d) + len(s)
        keep.append(repr(x * 1e-7))  # dtoa: freelists, pool, powers of five
        if len(keep) > 50:
            keep = keep[25:]
    return acc, keep[-3:], f"{acc:.17g}", float("1." + "3" * 40)


class FreelistTest(unittest.TestCase):
    def test_two_contexts_then_main(self):
        expected = churn(20000)
        self.assertEqual(parallel.map(churn, [20000] * 8, workers=2), [expected] * 8)
        self.assertEqual(churn(20000), expected)  # main's freelists hold no context memory

    def test_main_reuses_its_freelists_after_contexts(self):
        code = """if True:
            import parallel
            def churn(n):
                return sum(float(i) + len((i, i)) + len([i]) + len({i: i}) for i in range(n))
            for _ in range(5):
                r = parallel.map(churn, [30000] * 6, workers=2)
                assert r == [churn(30000)] * 6, r
                xs = [float(i) for i in range(100000)]   # pops main's freelist
                assert sum(xs) == 4999950000.0
            print("ok")
        """
        r = run_fresh(code)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        self.assertEqual(r.stdout.strip(), "ok")


if __name__ == "__main__":
    unittest.main()
