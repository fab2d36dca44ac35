"""parallel.server / register / run / stop with a raw protocol (API.md "Servers"): the
callbacks, the transport, exceptions queued to the main thread, and stopping."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

from .serverlib import (ServerProcess, append_only_tempfile, read_all, recv_exactly,
                        recv_until_closed)

GREETING = b"hello\r\n"


class EchoServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess("echo_app.py", "2")

    @classmethod
    def tearDownClass(cls):
        status, _ = cls.server.stop()
        cls.server.close()
        assert status == 0, status

    def greeted(self):
        s = self.server.connect()
        self.assertEqual(recv_exactly(s, len(GREETING)), GREETING)
        return s

    def ask(self, s, data, n):
        s.sendall(data)
        return recv_exactly(s, n)

    def test_greets_and_echoes_in_order(self):
        with self.greeted() as s:
            for i in range(20):
                msg = b"message %02d" % i
                self.assertEqual(self.ask(s, msg, 10 + len(msg)), b"You said: " + msg)

    def test_peer_is_the_clients_address(self):
        with self.greeted() as s:
            host, port = s.getsockname()
            expected = ("%s %d" % (host, port)).encode()
            self.assertEqual(self.ask(s, b"peer", len(expected)), expected)

    def test_close_from_a_callback_sends_then_ends_the_stream(self):
        with self.greeted() as s:
            s.sendall(b"bye")
            self.assertEqual(recv_until_closed(s), b"bye\r\n")

    def test_sendfile_sends_the_exact_range(self):
        path = os.path.abspath(__file__)
        with open(path, "rb") as f:
            content = f.read()
        with self.greeted() as s:
            s.sendall(b"file %s 10 300" % path.encode())
            self.assertEqual(recv_exactly(s, 300), content[10:310])
            # the connection goes on after a file
            self.assertEqual(self.ask(s, b"x", 11), b"You said: x")

    def test_exception_is_logged_with_traceback_and_the_server_keeps_serving(self):
        with self.greeted() as s:
            s.sendall(b"boom")
            self.assertEqual(recv_until_closed(s), b"", "a failed callback closes its connection")
        with self.greeted() as s:
            self.assertEqual(self.ask(s, b"again", 15), b"You said: again")
        deadline = time.monotonic() + 10
        while "boom requested" not in self.server.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        err = self.server.stderr()
        self.assertIn("pxkit: exception in data_received() of 127.0.0.1:", err)
        self.assertIn("ValueError: boom requested by the client", err)
        self.assertIn('echo_app.py", line', err)  # the worker's traceback text

    def test_storing_a_value_that_cannot_be_kept_is_a_logged_clone_error(self):
        with self.greeted() as s:
            s.sendall(b"setattr")
            self.assertEqual(recv_until_closed(s), b"")
        with self.greeted() as s:
            self.assertEqual(self.ask(s, b"ok", 12), b"You said: ok")
        deadline = time.monotonic() + 10
        while "CloneError" not in self.server.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertIn("parallel.CloneError: Echo.seen: object is not clonable",
                      self.server.stderr())

    def test_a_result_of_the_wrong_type_is_a_logged_type_error(self):
        with self.greeted() as s:
            s.sendall(b"badreturn")
            self.assertEqual(recv_until_closed(s), b"")
        deadline = time.monotonic() + 10
        while "must return bytes" not in self.server.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertIn("TypeError: data_received() must return bytes, bytearray, str, memoryview "
                      "or None, not int", self.server.stderr())

    def test_connection_lost_runs_once_per_connection(self):
        server = ServerProcess("echo_app.py", "2")  # its own, so the count is exact
        try:
            for _ in range(5):
                with server.connect() as s:
                    self.assertEqual(recv_exactly(s, len(GREETING)), GREETING)
                    s.sendall(b"x")
                    self.assertEqual(recv_exactly(s, 11), b"You said: x")
            deadline = time.monotonic() + 20
            while server.stderr().count("lost ") < 5 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.2)  # a sixth call would show up now
            self.assertEqual(server.stop()[0], 0)
            self.assertEqual(server.stderr().count("lost "), 5, server.stderr())
        finally:
            server.close()

    def test_both_workers_serve(self):
        seen = set()
        for _ in range(20):
            with self.greeted() as s:
                s.sendall(b"worker")
                seen.add(s.recv(10))
        self.assertEqual(seen, {b"1", b"2"})

    def test_a_slow_callback_does_not_delay_other_connections(self):
        slow = self.greeted()
        slow.sendall(b"sleep 2.0")
        time.sleep(0.2)  # the slow callback is running now
        t0 = time.monotonic()
        for i in range(6):
            with self.greeted() as s:
                self.assertEqual(self.ask(s, b"quick", 15), b"You said: quick")
        elapsed = time.monotonic() - t0
        self.assertEqual(recv_exactly(slow, 5), b"slept")
        slow.close()
        self.assertLess(elapsed, 1.5, "connections waited for another connection's callback")

    def test_stats_from_a_callback(self):
        with self.greeted() as s:
            s.sendall(b"stats")
            answer = s.recv(1000)
        self.assertEqual(answer, repr(sorted(["contexts", "memory", "server", "elapsed",
                                              "threads"])).encode())


class StopTest(unittest.TestCase):
    """run() returns after parallel.stop(), SIGTERM or SIGINT, under load; the process exits 0
    within 5 s."""

    def load(self, server, stop_event, failures):
        def client():
            while not stop_event.is_set():
                try:
                    with server.connect(timeout=5) as s:
                        greeting = recv_exactly(s, len(GREETING))
                        if not greeting:
                            continue  # closed before anything was sent: a clean refusal
                        s.sendall(b"ping")
                        reply = recv_exactly(s, 14)
                        if greeting != GREETING or reply not in (b"You said: ping", b""):
                            failures.append((greeting, reply))
                except (ConnectionError, socket.timeout, OSError):
                    pass  # refused or reset while stopping
        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        return threads

    def stop_under_load(self, how):
        server = ServerProcess("echo_app.py", "2")
        try:
            stop_event = threading.Event()
            failures = []
            threads = self.load(server, stop_event, failures)
            busy = server.connect()
            self.assertEqual(recv_exactly(busy, len(GREETING)), GREETING)
            busy.sendall(b"spin 0.5")  # a callback in flight when the stop comes
            time.sleep(0.3)
            if how == "stop":
                with server.connect() as s:
                    recv_exactly(s, len(GREETING))
                    s.sendall(b"stop")
                    self.assertEqual(recv_exactly(s, 8), b"stopping")
                status, seconds = server.stop(sig=0)
            else:
                status, seconds = server.stop(sig=how)
            self.assertEqual(recv_exactly(busy, 4), b"spun", "the in-flight callback's output")
            busy.close()
            stop_event.set()
            for t in threads:
                t.join()
            self.assertEqual(status, 0, server.stderr())
            self.assertLess(seconds, 5.0)
            self.assertEqual(failures, [])
            self.assertIn("run returned", server.stdout_rest)
        finally:
            server.close()

    def test_sigterm(self):
        self.stop_under_load(signal.SIGTERM)

    def test_sigint(self):
        self.stop_under_load(signal.SIGINT)

    def test_parallel_stop_from_a_callback(self):
        self.stop_under_load("stop")


def run_script(code, timeout=60):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout)


class RunOnceAndMisuseTest(unittest.TestCase):
    def test_run_once_raises_the_oldest_callback_exception(self):
        out = run_script(r'''
import socket, parallel
class P:
    def data_received(self, transport, data):
        raise KeyError(data.decode())
srv = parallel.server("127.0.0.1", 0, workers=1)
parallel.register(transport=srv, protocol=P)
parallel.run_once(0.1)
for word in (b"first", b"second"):
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(word)
    # the main thread serves only inside run_once: the reply (a close) comes from there
    while True:
        try:
            parallel.run_once(0.05)
        except KeyError as e:
            print("raised", e)
            break
    s.close()
''')
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.split("\n")[:2], ["raised 'first'", "raised 'second'"])
        self.assertIn("KeyError: 'first'", out.stderr)  # logged as well

    def test_misuse_raises_clear_errors(self):
        out = run_script(r'''
import parallel
def check(fn, exc, words):
    try:
        fn()
    except exc as e:
        assert all(w in str(e) for w in words), (str(e), words)
        print("ok", exc.__name__)
    else:
        raise AssertionError("no %s" % exc.__name__)
check(parallel.run, RuntimeError, ["nothing to run", "parallel.register"])
srv = parallel.server("127.0.0.1", 0)
check(lambda: parallel.register(transport=srv, protocol=object()), TypeError, ["must be a class"])
check(lambda: parallel.register(transport=42, protocol=object), TypeError, ["Server"])
class NoData: pass
check(lambda: parallel.register(transport=srv, protocol=NoData), TypeError, ["data_received"])
check(lambda: parallel.server("127.0.0.1", srv.port), OSError, ["bind"])
check(lambda: parallel.server("127.0.0.1", 70000), ValueError, ["port"])
check(lambda: parallel.server("not an address", 0), OSError, ["host"])
check(lambda: parallel.server("127.0.0.1", 0, workers=0), ValueError, ["workers"])
check(lambda: parallel.map(lambda _: parallel.server("127.0.0.1", 0), [1]), RuntimeError,
      ["parallel context"])
class P:
    def data_received(self, t, d): return d
parallel.register(transport=srv, protocol=P)
check(lambda: parallel.register(transport=srv, protocol=P), RuntimeError, ["already"])
parallel.run_once(0.01)
print("port", srv.port > 0, repr(srv).startswith("<parallel.Server 127.0.0.1:"))
''')
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.count("ok "), 10, out.stdout)
        self.assertIn("port True True", out.stdout)


if __name__ == "__main__":
    unittest.main()


class HarnessTest(unittest.TestCase):
    def test_output_written_between_seek_and_read_is_kept(self):
        # The server tests count lines in a child's stderr while it runs; a lost line once
        # failed test_connection_lost_runs_once_per_connection under tsan.
        capture = append_only_tempfile()
        child = subprocess.Popen(
            [sys.executable, "-c", "import os\nfor _ in range(3):\n"
             "    input(); os.write(2, b'line\\n')"],
            stdin=subprocess.PIPE, stderr=capture)
        try:
            child.stdin.write(b"\n")
            child.stdin.flush()
            wait_for_size(capture, 5)
            capture.seek(0)  # as stderr() does; the child writes before the read
            child.stdin.write(b"\n")
            child.stdin.flush()
            wait_for_size(capture, 10)
            capture.seek(0)
            self.assertEqual(read_all(capture), b"line\nline\n")

            # A write between the seek and the read moves the shared offset to the end: a
            # plain read() then returns nothing (this failed
            # test_a_result_of_the_wrong_type_is_a_logged_type_error once, under load).
            capture.seek(0)
            child.stdin.write(b"\n")
            child.stdin.flush()
            wait_for_size(capture, 15)
            self.assertEqual(capture.read(), b"", "the offset is shared with the child")
            self.assertEqual(read_all(capture), b"line\nline\nline\n")
        finally:
            child.stdin.close()
            child.wait()
            capture.close()


def wait_for_size(f, size, timeout=10.0):
    deadline = time.monotonic() + timeout
    while os.fstat(f.fileno()).st_size < size and time.monotonic() < deadline:
        time.sleep(0.01)
