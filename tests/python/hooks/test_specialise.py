"""Patch 0007 (specialise-main-only): contexts never quicken or specialise bytecode and never
write the type cache; code the main thread specialised stays specialised and correct."""
import dis
import unittest

import parallel


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y


def kernel(n):
    p = Point(n, 2)
    total = 0
    for i in range(200):
        total += p.x * i + p.y
        total += len([i]) + (i & 3)
    return total


def cold_kernel(n):  # never run on the main thread
    p = Point(n, 3)
    total = 0
    for i in range(200):
        total += p.x + i * p.y
    return total


def adaptive_ops(func):
    return [ins.opname for ins in dis.get_instructions(func, adaptive=True)]


class SpecialiseTest(unittest.TestCase):
    def test_contexts_do_not_quicken(self):
        before = adaptive_ops(cold_kernel)
        results = parallel.map(cold_kernel, list(range(400)), workers=2)
        self.assertEqual(adaptive_ops(cold_kernel), before,
                         "a context quickened or specialised main's bytecode")
        self.assertEqual(results, [cold_kernel(n) for n in range(400)])

    def test_main_specialisation_survives_contexts(self):
        for n in range(100):
            kernel(n)
        warm = adaptive_ops(kernel)
        self.assertTrue(any(op.startswith(("LOAD_ATTR_", "BINARY_OP_")) for op in warm), warm)
        results = parallel.map(kernel, list(range(400)), workers=2)
        self.assertEqual(results, [kernel(n) for n in range(400)])
        self.assertEqual(adaptive_ops(kernel), warm, "a context deoptimised main's bytecode")


if __name__ == "__main__":
    unittest.main()
