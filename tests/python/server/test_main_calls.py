"""parallel.call_from_main_thread (API.md "Main-thread interaction"): from parallel.map and
from server callbacks; arguments and results cloned, exceptions propagated, calls serialised,
refused clearly when the main thread does not wait or the server shuts down."""
import signal
import threading
import time
import unittest

import parallel

from .serverlib import ServerProcess, recv_exactly

COUNTS = {}
ORDER = []


def bump(name, by=1):
    ORDER.append(("start", name))
    COUNTS[name] = COUNTS.get(name, 0) + by
    ORDER.append(("end", name))
    return {"name": name, "count": COUNTS[name], "list": [1, "two", 3.0]}


def fail(x):
    raise KeyError("missing %s" % x)


@parallel.call_from_main_thread
def decorated(name):
    """a decorated main-thread function"""
    COUNTS[name] = COUNTS.get(name, 0) + 100
    return COUNTS[name]


class FromMapTest(unittest.TestCase):
    def setUp(self):
        COUNTS.clear()
        ORDER.clear()

    def test_runs_on_the_main_thread_with_cloned_arguments_and_result(self):
        def work(i):
            r = parallel.call_from_main_thread(bump, "k%d" % (i % 3), by=2)
            return (parallel.is_parallel_thread(), r["name"], r["list"])
        results = parallel.map(work, range(30), workers=2)
        self.assertEqual(results, [(True, "k%d" % (i % 3), [1, "two", 3.0]) for i in range(30)])
        self.assertEqual(COUNTS, {"k0": 20, "k1": 20, "k2": 20})

    def test_calls_are_serialised(self):
        parallel.map(lambda i: parallel.call_from_main_thread(bump, "s%d" % i), range(40), workers=2)
        # start/end pairs never interleave
        for k in range(0, len(ORDER), 2):
            self.assertEqual((ORDER[k][0], ORDER[k + 1][0]), ("start", "end"))
            self.assertEqual(ORDER[k][1], ORDER[k + 1][1])

    def test_exceptions_propagate_with_type_and_message(self):
        def work(i):
            try:
                parallel.call_from_main_thread(fail, i)
            except KeyError as e:
                return e.args
        self.assertEqual(parallel.map(work, range(4)), [("missing %d" % i,) for i in range(4)])

    def test_decorator(self):
        self.assertEqual(decorated.__name__, "decorated")
        self.assertEqual(decorated.__doc__, "a decorated main-thread function")
        self.assertEqual(decorated("main"), 100)  # on the main thread: a plain call
        self.assertEqual(sorted(parallel.map(lambda i: decorated("ctx"), range(5))),
                         [100, 200, 300, 400, 500])

    def test_non_clonable_argument_is_a_clone_error(self):
        # (The message is built on the main heap and freed there: the context must copy it.)
        with self.assertRaisesRegex(parallel.CloneError,
                                    r"^call_from_main_thread\(\) argument\[0\]: object is not "
                                    r"clonable, only None"):
            parallel.map(lambda i: parallel.call_from_main_thread(bump, object()), [1])

    def test_a_function_made_in_the_context_is_refused(self):
        with self.assertRaisesRegex(TypeError, "defined on the main thread"):
            parallel.map(lambda i: parallel.call_from_main_thread(lambda: 1), [1])

    def test_not_callable(self):
        with self.assertRaisesRegex(TypeError, "not callable"):
            parallel.call_from_main_thread(42, 1)


class FromServerTest(unittest.TestCase):
    def test_counts_kept_on_the_main_thread(self):
        server = ServerProcess("echo_app.py", "2")
        try:
            answers = []
            lock = threading.Lock()

            def client():
                for _ in range(10):
                    with server.connect() as s:
                        recv_exactly(s, 7)
                        s.sendall(b"count alice")
                        with lock:
                            answers.append(int(s.recv(100)))
            threads = [threading.Thread(target=client) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(sorted(answers), list(range(1, 41)))  # each count exactly once
            self.assertEqual(server.stop()[0], 0)
        finally:
            server.close()

    def test_shutdown_refuses_a_call_clearly_and_never_hangs(self):
        server = ServerProcess("echo_app.py", "2")
        try:
            busy = server.connect()
            recv_exactly(busy, 7)
            busy.sendall(b"spin-then-call")  # calls the main thread after the stop began
            time.sleep(0.3)
            status, seconds = server.stop(signal.SIGTERM)
            answer = busy.recv(200)
            busy.close()
            self.assertEqual(status, 0)
            self.assertLess(seconds, 5.0)
            self.assertEqual(answer, b"refused: parallel.call_from_main_thread(): the server is "
                                     b"shutting down")
        finally:
            server.close()


if __name__ == "__main__":
    unittest.main()
