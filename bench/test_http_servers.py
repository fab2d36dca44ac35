"""Tests of bench/http_servers.py's wrk parsing and server stopping, and of bench/proc_memory.py.

    python3 -m unittest discover -s bench -p 'test_http_servers.py'
"""
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_servers  # noqa: E402
import proc_memory  # noqa: E402

CLEAN = '''Running 10s test @ http://127.0.0.1:8080/hello
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   612.97us  476.16us   6.33ms   84.09%
    Req/Sec     5.15k     2.02k   10.08k    71.43%
  Latency Distribution
     50%  483.00us
     75%  791.00us
     90%    1.19ms
     99%    2.24ms
  107510 requests in 10.00s, 17.20MB read
Requests/sec:  10751.00
Transfer/sec:      1.72MB
'''

WITH_ERRORS = '''Running 1m test @ http://127.0.0.1:8080/hello
  2 threads and 64 connections
  Latency Distribution
     50%    1.50s
     75%    1.90s
     90%    1.95s
     99%    1.99s
  6000 requests in 1.00m, 1.00MB read
  Socket errors: connect 0, read 12, write 0, timeout 30
  Non-2xx or 3xx responses: 1500
Requests/sec:    100.00
Transfer/sec:     17.07KB
'''


class ParseWrk(unittest.TestCase):
    def test_clean_run(self):
        r = http_servers.parse_wrk(CLEAN)
        self.assertEqual(r.requests, 107510)
        self.assertAlmostEqual(r.seconds, 10.0)
        self.assertAlmostEqual(r.rps, 10751.0)
        self.assertAlmostEqual(r.p50_ms, 0.483)
        self.assertAlmostEqual(r.p99_ms, 2.24)
        self.assertEqual(r.problems(), [])
        self.assertAlmostEqual(r.good_rps, 10751.0)

    def test_errors_are_flagged_and_not_counted(self):
        r = http_servers.parse_wrk(WITH_ERRORS)
        self.assertAlmostEqual(r.seconds, 60.0)
        self.assertAlmostEqual(r.p50_ms, 1500.0)
        self.assertEqual(r.non_2xx, 1500)
        self.assertEqual(r.socket_errors, {'connect': 0, 'read': 12, 'write': 0, 'timeout': 30})
        self.assertAlmostEqual(r.good_rps, 4500 / 60)
        self.assertEqual(r.problems(), ['1500 non-2xx', '12 read errors', '30 timeout errors'])

    def test_only_errors_is_no_good_response(self):
        r = http_servers.parse_wrk(CLEAN + '  Non-2xx or 3xx responses: 107510\n')
        self.assertEqual(r.good_rps, 0)
        self.assertIn('no good response', r.problems())

    def test_without_latency_distribution_is_refused(self):
        text = CLEAN.replace('  Latency Distribution\n', '').replace('     50%  483.00us\n', '')
        with self.assertRaisesRegex(ValueError, 'latency distribution'):
            http_servers.parse_wrk(text)

    def test_garbage_is_refused(self):
        with self.assertRaises(ValueError):
            http_servers.parse_wrk('unable to connect to 127.0.0.1:1 Connection refused\n')


TREE = '''import subprocess, sys, time
child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
print(child.pid, flush=True)
time.sleep(60)
'''

IGNORES_TERM = '''import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print('ready', flush=True)
time.sleep(60)
'''


class ProcessTree(unittest.TestCase):
    def start(self, code):
        proc = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True,
                                start_new_session=True)
        self.addCleanup(self.kill_group, proc)
        return proc, proc.stdout.readline().strip()

    @staticmethod
    def kill_group(proc):
        if proc_memory.group_pids(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()

    def test_tree_memory_sums_parent_and_child(self):
        proc, child = self.start(TREE)
        memory = proc_memory.tree_memory(proc.pid)
        self.assertEqual(memory['pids'], [proc.pid, int(child)])
        rss = [rss for rss, _ in memory['per_pid'].values()]
        self.assertTrue(all(r > 0 for r in rss))
        self.assertEqual(memory['rss'], sum(rss))
        self.assertIsNotNone(memory['pss'])
        self.assertLessEqual(memory['pss'], memory['rss'])
        self.assertEqual(sorted(proc_memory.group_pids(proc.pid)), [proc.pid, int(child)])

    def test_stop_terminates_the_whole_group(self):
        proc, child = self.start(TREE)
        self.assertEqual(http_servers.stop(proc, timeout=5), 'stopped')
        self.assertEqual(proc_memory.group_pids(proc.pid), [])

    def test_stop_kills_what_ignores_sigterm(self):
        proc, _ = self.start(IGNORES_TERM)
        started = time.monotonic()
        self.assertIn('killed', http_servers.stop(proc, timeout=0.5))
        self.assertLess(time.monotonic() - started, 5)
        self.assertEqual(proc.returncode, -signal.SIGKILL)


if __name__ == '__main__':
    unittest.main()
