"""Patch 0009 (gil-and-eval-breaker): a context never takes or drops the GIL (blocking calls
only swap thread states), has its own eval breaker, and signals stay the main thread's, which
services them while it waits in parallel.map."""
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import parallel


def sleepy(i):
    time.sleep(0.01)  # Py_BEGIN/END_ALLOW_THREADS: the main thread holds the GIL meanwhile
    return i


def read_file(path):
    with open(path, "rb") as f:
        return len(f.read())


def busy(n):
    total = 0
    for i in range(n):
        total += i % 7
    return total


class GilTest(unittest.TestCase):
    def test_blocking_calls_in_contexts(self):
        self.assertEqual(parallel.map(sleepy, range(40), workers=2), list(range(40)))

    def test_file_io_in_contexts(self):
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.write(b"x" * 10000)
        try:
            self.assertEqual(parallel.map(read_file, [f.name] * 20, workers=2), [10000] * 20)
        finally:
            os.unlink(f.name)

    def test_a_busy_python_thread_during_map(self):
        """Another thread waiting for the GIL sets the shared eval breaker and asks for a GIL
        drop every 5 ms; contexts must ignore both (a context dropping the GIL the main thread
        holds is a fatal error)."""
        stop = threading.Event()

        def spin():
            while not stop.is_set():
                busy(1000)

        t = threading.Thread(target=spin)
        t.start()
        try:
            time.sleep(0.02)
            self.assertEqual(parallel.map(busy, [200000] * 6, workers=2), [busy(200000)] * 6)
        finally:
            stop.set()
            t.join()

    def test_ctrl_c_interrupts_map(self):
        code = """if True:
            import parallel, sys, time
            def slow(i):
                t = time.monotonic() + 0.2
                while time.monotonic() < t:
                    pass
                return i
            print("start", flush=True)
            try:
                parallel.map(slow, range(200), workers=2)   # 20 s if never interrupted
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                sys.exit(3)
            print("finished")
        """
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        self.assertEqual(p.stdout.readline().strip(), "start")
        time.sleep(0.5)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 3, out)
        self.assertIn("interrupted", out)
        self.assertLess(time.monotonic() - t0, 5.0)


if __name__ == "__main__":
    unittest.main()
