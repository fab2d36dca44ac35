"""cpu_count, is_parallel_thread, thread_seq_id, rdtsc and debug, inside and outside callbacks,
and the exception classes of API.md."""
import os
import subprocess
import sys
import textwrap
import threading
import unittest

from pxtest import parallel


def identity(x):
    return x


def in_callback(_):
    return parallel.is_parallel_thread(), parallel.thread_seq_id()


def seq_id_after_work(_):
    total = 0
    for i in range(200_000):
        total += i & 3
    return parallel.thread_seq_id()


def tsc_pair(_):
    a = parallel.rdtsc()
    total = 0
    for i in range(1000):
        total += i
    b = parallel.rdtsc()
    return a, b


def allowed_cpu_counts():
    counts = {os.cpu_count()}
    if hasattr(os, "sched_getaffinity"):
        counts.add(len(os.sched_getaffinity(0)))
    return counts


class Introspection(unittest.TestCase):
    def test_exported_names(self):
        for name in ("map", "cpu_count", "is_parallel_thread", "thread_seq_id", "rdtsc", "debug",
                     "MutationError", "CloneError", "ContextMemoryError", "call_from_main_thread",
                     "protect", "unprotect", "protected", "dict", "list", "track_dealloc",
                     "tracked_types", "server", "register", "run", "run_once", "stop", "stats"):
            self.assertTrue(hasattr(parallel, name), f"parallel.{name} is missing")

    def test_exception_hierarchy(self):
        self.assertTrue(issubclass(parallel.MutationError, RuntimeError))
        self.assertTrue(issubclass(parallel.CloneError, TypeError))
        self.assertTrue(issubclass(parallel.ContextMemoryError, MemoryError))

    def test_cpu_count(self):
        n = parallel.cpu_count()
        self.assertIs(type(n), int)
        self.assertGreaterEqual(n, 1)
        self.assertIn(n, allowed_cpu_counts())

    def test_main_thread_values(self):
        self.assertIs(parallel.is_parallel_thread(), False)
        self.assertEqual(parallel.thread_seq_id(), 0)

    def test_ordinary_thread_is_not_parallel(self):
        seen = []
        t = threading.Thread(target=lambda: seen.append(parallel.is_parallel_thread()))
        t.start()
        t.join()
        self.assertEqual(seen, [False])

    def test_callback_values(self):
        for workers in (1, 2):
            with self.subTest(workers=workers):
                got = parallel.map(in_callback, range(20), workers=workers)
                self.assertTrue(all(flag is True for flag, _ in got), got)
                ids = {seq for _, seq in got}
                self.assertTrue(ids <= set(range(1, workers + 1)), f"ids {ids} outside 1..{workers}")
        self.assertEqual({seq for _, seq in parallel.map(in_callback, range(5), workers=1)}, {1})
        self.assertIs(parallel.is_parallel_thread(), False)
        self.assertEqual(parallel.thread_seq_id(), 0)

    def test_default_workers_is_cpu_count(self):
        n = parallel.cpu_count()
        ids = set(parallel.map(seq_id_after_work, range(40)))
        self.assertTrue(ids <= set(range(1, n + 1)), f"ids {ids} outside 1..{n}")
        if n >= 2:
            self.assertGreater(len(ids), 1, f"40 busy items ran on one worker only ({ids}) with cpu_count()={n}")

    def test_two_workers_both_used(self):
        ids = set(parallel.map(seq_id_after_work, range(40), workers=2))
        self.assertEqual(ids, {1, 2})

    def test_rdtsc(self):
        a = parallel.rdtsc()
        total = 0
        for i in range(10_000):
            total += i
        b = parallel.rdtsc()
        self.assertIs(type(a), int)
        self.assertGreater(a, 0)
        self.assertGreater(b, a)
        for x, y in parallel.map(tsc_pair, range(8), workers=2):
            self.assertIs(type(x), int)
            self.assertGreater(x, 0)
            self.assertGreaterEqual(y, x)

    def test_debug_writes_one_line_to_stderr(self):
        """debug() returns None and writes its message as one line to stderr, in callbacks too."""
        script = textwrap.dedent("""
            import parallel
            def cb(x):
                return parallel.debug(f"px-debug-callback-{x}")
            assert parallel.debug("px-debug-main") is None
            assert parallel.map(cb, range(6), workers=2) == [None] * 6
        """)
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout, "")
        lines = proc.stderr.splitlines()
        wanted = ["px-debug-main"] + [f"px-debug-callback-{x}" for x in range(6)]
        for w in wanted:
            matching = [line for line in lines if w in line]
            self.assertEqual(len(matching), 1, f"{w!r} should be on exactly one line of stderr: {lines}")
            self.assertEqual(sum(line.count("px-debug-") for line in matching), 1,
                             f"{w!r} shares its line with another message: {matching}")
