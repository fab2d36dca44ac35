"""The parallel module's helpers and exception types (no patch needed)."""
import subprocess
import sys
import unittest

import parallel


class ModuleTest(unittest.TestCase):
    def test_main_thread(self):
        self.assertGreaterEqual(parallel.cpu_count(), 1)
        self.assertFalse(parallel.is_parallel_thread())
        self.assertEqual(parallel.thread_seq_id(), 0)
        a, b = parallel.rdtsc(), parallel.rdtsc()
        self.assertIsInstance(a, int)
        self.assertGreaterEqual(b, a)

    def test_exception_types(self):
        self.assertTrue(issubclass(parallel.MutationError, RuntimeError))
        self.assertTrue(issubclass(parallel.CloneError, TypeError))
        self.assertTrue(issubclass(parallel.ContextMemoryError, MemoryError))
        self.assertEqual(parallel.MutationError.__module__, "parallel")

    def test_debug_writes_one_line_to_stderr(self):
        out = subprocess.run([sys.executable, "-c", "import parallel; parallel.debug('px é')"],
                             capture_output=True, check=True)
        self.assertEqual(out.stderr, "px é\n".encode())
        self.assertEqual(out.stdout, b"")

    def test_misuse_raises(self):
        with self.assertRaises(TypeError):
            parallel.debug(3)
        with self.assertRaises(TypeError):
            parallel.cpu_count(1)


class DeallocFlagTest(unittest.TestCase):
    """Patch 0019: Py_TPFLAGS_PX_DEALLOC is a tp_flags bit nothing else uses."""

    def test_flag_is_bit_21(self):
        self.assertEqual(parallel.TPFLAGS_PX_DEALLOC, 1 << 21)

    def test_no_type_has_it(self):
        import array, collections, datetime, decimal, json, re, struct  # noqa: F401
        seen, stack = set(), [object]
        while stack:
            t = stack.pop()
            if t in seen:
                continue
            seen.add(t)
            self.assertFalse(t.__flags__ & parallel.TPFLAGS_PX_DEALLOC, t)
            stack.extend(type.__subclasses__(t))
        self.assertGreater(len(seen), 500)


if __name__ == "__main__":
    unittest.main()
