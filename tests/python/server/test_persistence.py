"""Per-connection persistence: what a protocol callback stores on self (API.md, "Servers")."""
import re
import time
import unittest

from .serverlib import ServerProcess, recv_until_closed

SOAK_CYCLES = 1_000_000  # set/get cycles on one connection, 10,000 per callback


class SessionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess("session_app.py")

    @classmethod
    def tearDownClass(cls):
        status, _ = cls.server.stop()
        cls.server.close()
        assert status == 0, status

    def ask(self, s, command):
        s.sendall(command)
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(65536)
            self.assertTrue(chunk, "connection closed after %r; stderr:\n%s"
                            % (command, self.server.stderr()))
            reply += chunk
        return reply[:-1]

    def wait_for_log(self, text):
        deadline = time.monotonic() + 10
        while text not in self.server.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertIn(text, self.server.stderr())

    def test_a_stored_value_is_seen_by_later_callbacks_of_that_connection_only(self):
        with self.server.connect() as a, self.server.connect() as b:
            self.assertEqual(self.ask(a, b"get"), b"(none)")
            self.assertEqual(self.ask(a, b"set first"), b"ok")
            self.assertEqual(self.ask(b, b"get"), b"(none)")
            self.assertEqual(self.ask(b, b"set other"), b"ok")
            for _ in range(20):  # many rewinds later, on whichever worker
                self.assertEqual(self.ask(a, b"get"), b"first")
                self.assertEqual(self.ask(b, b"get"), b"other")
            self.assertEqual(self.ask(a, b"set second"), b"ok")
            self.assertEqual(self.ask(a, b"get"), b"second")
            self.assertEqual(self.ask(a, b"del"), b"deleted")
            self.assertEqual(self.ask(a, b"get"), b"(none)")
        with self.server.connect() as c:  # a new connection starts from a new instance
            self.assertEqual(self.ask(c, b"get"), b"(none)")

    def test_attributes_set_in_init_and_updated_by_assignment(self):
        with self.server.connect() as s:
            for i in range(1, 51):
                self.assertEqual(self.ask(s, b"inc"), str(i).encode())
            for i in range(1, 4):
                self.assertEqual(self.ask(s, b"extend x%d" % i), str(i).encode())

    def test_an_attribute_name_the_callback_computes_is_kept_with_the_value(self):
        with self.server.connect() as s:
            for i in range(40):  # enough keys to resize the instance's dict
                self.assertEqual(self.ask(s, b"setdyn k%d=v%d" % (i, i)), b"ok")
                self.assertEqual(self.ask(s, b"set filler%d" % i), b"ok")  # more rewinds
            for i in range(40):
                self.assertEqual(self.ask(s, b"getdyn k%d" % i), b"v%d" % i)
            self.assertEqual(self.ask(s, b"setdyn k0=again"), b"ok")
            self.assertEqual(self.ask(s, b"getdyn k0"), b"again")

    def test_containers_keep_shared_references_and_cycles(self):
        with self.server.connect() as s:
            self.assertEqual(self.ask(s, b"nested abc"), b"ok")
            self.assertEqual(self.ask(s, b"getnested"),
                             b"[['abc'], True, (1, 2.5, None), True, 'abc']")

    def test_a_value_that_cannot_be_kept_is_a_clone_error_naming_its_path(self):
        with self.server.connect() as s:
            s.sendall(b"bad")
            self.assertEqual(recv_until_closed(s), b"")
        self.wait_for_log("parallel.CloneError: Keeper.value[1]['x']: module is not clonable")
        with self.server.connect() as s:
            self.assertEqual(self.ask(s, b"set fine"), b"ok")

    def test_changing_a_kept_value_in_place_is_a_mutation_error(self):
        with self.server.connect() as s:
            s.sendall(b"append x")
            self.assertEqual(recv_until_closed(s), b"")
        self.wait_for_log("on a list kept on the connection's protocol instance is not "
                          "allowed: what a callback stores on self is a copy")

    def test_a_kept_strs_utf8_copy_and_the_instance_dict_outlive_the_callback(self):
        # In poison mode a copy left in the callback's heap faults at the next use.
        with self.server.connect() as s:
            self.assertEqual(self.ask(s, b"unicode x"), b"ok")
            for _ in range(5):
                self.assertEqual(self.ask(s, b"lookup").decode(), "caf\u00e9-x")
            self.assertEqual(self.ask(s, b"set v"), b"ok")
            for _ in range(5):
                self.assertEqual(self.ask(s, b"vars"),
                                 b"['count', 'items', 'name', 'value']")
                self.assertEqual(self.ask(s, b"get"), b"v")
                self.assertEqual(self.ask(s, b"inc")[:0], b"")

    def test_soak_overwritten_values_are_reclaimed(self):
        with self.server.connect() as s:
            per_callback = 10_000
            expected = sum(1024 + i % 251 for i in range(per_callback))
            for _ in range(SOAK_CYCLES // per_callback):
                self.assertEqual(self.ask(s, b"soak %d" % per_callback), str(expected).encode())
            held, high_water = map(int, self.ask(s, b"memory").split())
        self.assertLess(high_water, 1 << 20, "a session heap grew past 1 MiB")
        print("\n%d set/get cycles of 1 KiB on one connection: session heap high-water %d "
              "bytes" % (SOAK_CYCLES, high_water), end=" ")


if __name__ == "__main__":
    unittest.main()
