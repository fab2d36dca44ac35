"""Patch 0016 (lock-release-order): a main-owned lock shared by callbacks on two workers."""
import threading
import unittest

import _thread
import parallel

ROUNDS = 100_000


def _round_trips(lock):
    """Takes and releases `lock` ROUNDS times, polling with acquire(False); returns "ok" or
    what went wrong, never blocking for good: a lock left held by a failed release is
    reported as "stuck". Polling (sem_trywait) rather than acquire(timeout=...): TSan, which
    runs these tests in the tsan flavour, does not see the happens-before of sem_clockwait."""
    for _ in range(ROUNDS):
        spins = 0
        while not lock.acquire(False):
            spins += 1
            if spins > 1_000_000:
                return "stuck"
        try:
            lock.release()
        except RuntimeError as e:
            return str(e)
    return "ok"


class LockTest(unittest.TestCase):
    def test_lock_shared_by_two_workers(self):
        # Both workers poll, so the lock changes hands within nanoseconds of each release:
        # the window between releasing and clearing the flag.
        lock = _thread.allocate_lock()
        results = parallel.map(lambda _: _round_trips(lock), [0, 1], workers=2)
        self.assertEqual(results, ["ok", "ok"])
        self.assertFalse(lock.locked())

    def test_threading_lock_counts_every_entry(self):
        lock = threading.Lock()
        counts = parallel.map(lambda _: _round_trips(lock), range(4), workers=2)
        self.assertEqual(counts, ["ok"] * 4)
        self.assertTrue(lock.acquire(False))
        lock.release()


if __name__ == "__main__":
    unittest.main()
