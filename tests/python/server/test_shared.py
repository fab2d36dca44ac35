"""Protected objects shared by a server's connections (API.md "Main-thread interaction and
shared state"): contexts on both workers and the main thread (call_from_main_thread) write
the same parallel.dict and parallel.list; everything written is kept, nothing deadlocks."""
import threading
import unittest

from .serverlib import ServerProcess, recv_exactly


def ask(sock, line):
    sock.sendall(line + b"\n")
    out = b""
    while not out.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError("connection closed after %r" % line)
        out += chunk
    return out.decode().strip()


class SharedStateTest(unittest.TestCase):
    CLIENTS = 4
    ROUNDS = 200

    def test_connections_share_protected_objects_with_the_main_thread(self):
        server = ServerProcess("shared_app.py", "2")
        try:
            errors = []

            def client(c):
                try:
                    with server.connect() as s:
                        for r in range(self.ROUNDS):
                            self.assertEqual(ask(s, b"hit c%d" % c), "ok")
                            if r % 10 == 0:
                                int(ask(s, b"main c%d" % c))  # a main-thread write
                        self.assertEqual(ask(s, b"get c%d" % c), "'c%d'" % c)
                        total, mine = map(int, ask(s, b"count c%d" % c).split())
                        self.assertEqual(mine, self.ROUNDS)
                        self.assertGreaterEqual(total, self.ROUNDS)
                except Exception as e:  # reported below: a thread's failure is not the test's
                    errors.append(e)

            threads = [threading.Thread(target=client, args=(c,)) for c in range(self.CLIENTS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            self.assertEqual(errors, [])
            with server.connect() as s:
                total, _ = map(int, ask(s, b"count x").split())
                main_calls = self.CLIENTS * self.ROUNDS // 10
                self.assertEqual(total, self.CLIENTS * self.ROUNDS + main_calls)
                self.assertIn("not clonable", ask(s, b"bad"))
                self.assertEqual(ask(s, b"get bad"), "None")
            status, _ = server.stop()
            self.assertEqual(status, 0, server.stderr())
            self.assertIn("main_calls=%d log=%d hits=%d" % (
                main_calls, self.CLIENTS * self.ROUNDS + main_calls, self.CLIENTS),
                server.stdout_rest)
        finally:
            server.close()


if __name__ == "__main__":
    unittest.main()
