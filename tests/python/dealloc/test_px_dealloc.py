"""PX_DEALLOC with a real extension type that owns a malloc'd buffer and a file descriptor
(tests/ext/pxres.c): what a callback leaves alive is deallocated before its memory goes,
newest first, exactly once; without tracking the same run leaks."""
import unittest

from .pxreslib import run_scenario

CALLS = 100_000         # callbacks that each leave a tracked resource behind
UNTRACKED_CALLS = 5_000  # the same without tracking leaks one fd each (RLIMIT_NOFILE is 20,000 here)
SIZE = 4096              # each resource's malloc'd buffer

CYCLE = """
def leave_behind(i, kind):
    r = kind(%d)
    r.ref = {"self": r, "i": i}  # a reference cycle: no refcount frees it, contexts run no GC
    return None
""" % SIZE


class PxDeallocTest(unittest.TestCase):
    def assert_balanced(self, before, after, calls):
        self.assertEqual(after["acquired"] - before["acquired"], calls)
        self.assertEqual(after["released"] - before["released"], calls)
        self.assertEqual(after["deallocs"] - before["deallocs"], calls, "each dealloc ran once")
        self.assertEqual(after["fds"], before["fds"], "descriptors back to the baseline")

    def test_a_c_type_with_the_flag_left_in_cycles_is_deallocated_at_the_end(self):
        r = run_scenario(CYCLE + """
parallel.map(lambda i: leave_behind(i, pxres.FlaggedResource), range(1000))  # warm-up
before = snapshot()
parallel.map(lambda i: leave_behind(i, pxres.FlaggedResource), range(%d))
after = snapshot()
report(before=before, after=after)
""" % CALLS)
        self.assert_balanced(r["before"], r["after"], CALLS)
        grew = r["after"]["malloc"] - r["before"]["malloc"]
        self.assertLess(grew, CALLS * SIZE // 100, "the native heap is back near its baseline")
        print("\n%d callbacks: fds %d -> %d, malloc in use %+d bytes"
              % (CALLS, r["before"]["fds"], r["after"]["fds"], grew), end=" ")

    def test_the_same_run_without_tracking_leaks(self):
        r = run_scenario(CYCLE + """
before = snapshot()
parallel.map(lambda i: leave_behind(i, pxres.Resource), range(%d))
after = snapshot()
report(before=before, after=after)
""" % UNTRACKED_CALLS)
        before, after = r["before"], r["after"]
        self.assertEqual(after["acquired"] - before["acquired"], UNTRACKED_CALLS)
        self.assertEqual(after["released"] - before["released"], 0, "nothing released")
        self.assertEqual(after["fds"] - before["fds"], UNTRACKED_CALLS, "one fd leaked per call")
        self.assertGreaterEqual(after["malloc"] - before["malloc"], UNTRACKED_CALLS * SIZE)

    def test_track_dealloc_opts_a_type_in_at_run_time(self):
        r = run_scenario(CYCLE + """
assert parallel.track_dealloc(pxres.Resource) is pxres.Resource
assert parallel.track_dealloc(pxres.Resource) is pxres.Resource  # twice is once
before = snapshot()
parallel.map(lambda i: leave_behind(i, pxres.Resource), range(2000))
after = snapshot()
report(before=before, after=after, tracked=[t.__name__ for t in parallel.tracked_types()],
       flag=bool(pxres.Resource.__flags__ & parallel.TPFLAGS_PX_DEALLOC))
""")
        self.assert_balanced(r["before"], r["after"], 2000)
        self.assertEqual(r["tracked"], ["Resource"])
        self.assertTrue(r["flag"])

    def test_objects_that_died_earlier_are_not_called_again(self):
        r = run_scenario("""
def dropped(i):
    r = pxres.FlaggedResource(64)
    if i % 2:
        r.close()       # released early; its dealloc still runs once, as it dies
    return r.fd         # then r dies here, normally
before = snapshot()
parallel.map(dropped, range(3000))
after = snapshot()
report(before=before, after=after)
""")
        self.assert_balanced(r["before"], r["after"], 3000)

    def test_still_alive_at_the_end_runs_newest_first(self):
        r = run_scenario("""
def three(_):
    kept = []
    for size in (1, 2, 3):
        r = pxres.FlaggedResource(size)
        r.ref = kept      # every resource and the list form one cycle
        kept.append(r)
    return None
parallel.map(three, [0], workers=1)
report(log=pxres.dealloc_log()[-3:], counts=pxres.counts())
""")
        self.assertEqual(r["log"], [3, 2, 1])
        self.assertEqual(r["counts"]["deallocs"], 3)
        self.assertEqual(r["counts"]["released"], 3)

    def test_misuse_is_a_clear_exception(self):
        r = run_scenario("""
errors = []
try:
    parallel.track_dealloc(42)
except TypeError as e:
    errors.append(str(e))
try:
    parallel.map(lambda _: parallel.track_dealloc(pxres.Resource), [0])
except RuntimeError as e:
    errors.append(str(e))
report(errors=errors, tracked=len(parallel.tracked_types()))
""")
        self.assertEqual(r["errors"][0], "parallel.track_dealloc() takes a type, not int")
        self.assertIn("runs on the main thread only", r["errors"][1])
        self.assertEqual(r["tracked"], 0)


class ServerCallbacksTest(unittest.TestCase):
    def test_protocol_callbacks_leave_nothing_behind(self):
        from server.serverlib import ServerProcess  # the server tests' harness

        from .pxreslib import build
        server = ServerProcess("dealloc_app.py", env={"PXRES_DIR": build()})
        try:
            def ask(s, command):
                s.sendall(command)
                reply = b""
                while not reply.endswith(b"\n"):
                    chunk = s.recv(4096)
                    self.assertTrue(chunk, server.stderr())
                    reply += chunk
                return reply

            with server.connect() as s:
                _, _, _, fds_before = map(int, ask(s, b"counts").split())
                for _ in range(2000):
                    self.assertEqual(ask(s, b"leave"), b"left\n")
                acquired, released, deallocs, fds = map(int, ask(s, b"counts").split())
            self.assertEqual((acquired, released, deallocs), (2000, 2000, 2000))
            self.assertEqual(fds, fds_before)
            self.assertEqual(server.stop()[0], 0)
            self.assertNotIn("pxkit:", server.stderr())
        finally:
            server.close()


if __name__ == "__main__":
    unittest.main()
