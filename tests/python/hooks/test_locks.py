"""Patch 0016 (lock-release-order): a main-owned lock shared by callbacks on two workers."""
import threading
import unittest

import _thread
import parallel

ROUNDS = 100_000


def _round_trips(lock, polling):
    """Takes and releases `lock` ROUNDS times; returns "ok" or what went wrong. Never blocks
    for good: a lock left held by a failed release is reported as "stuck"."""
    for _ in range(ROUNDS):
        if polling:
            spins = 0
            while not lock.acquire(False):
                spins += 1
                if spins > 1_000_000:
                    return "stuck"
        elif not lock.acquire(timeout=1.0):
            return "stuck"
        try:
            lock.release()
        except RuntimeError as e:
            return str(e)
    return "ok"


class LockTest(unittest.TestCase):
    def test_lock_shared_by_two_workers(self):
        # One worker blocks, the other polls, so the lock changes hands within nanoseconds
        # of each release: the window between releasing and clearing the flag.
        lock = _thread.allocate_lock()
        results = parallel.map(lambda polling: _round_trips(lock, polling), [False, True],
                               workers=2)
        self.assertEqual(results, ["ok", "ok"])
        self.assertFalse(lock.locked())

    def test_threading_lock_counts_every_entry(self):
        lock = threading.Lock()
        counts = parallel.map(lambda _: _round_trips(lock, False), range(4), workers=2)
        self.assertEqual(counts, ["ok"] * 4)
        self.assertTrue(lock.acquire(False))
        lock.release()


if __name__ == "__main__":
    unittest.main()
