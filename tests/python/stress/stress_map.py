"""Stress: 2 workers x 100,000 calls through parallel.map; RSS must stay flat.

Run: pxpython tests/python/stress/stress_map.py [CALLS_PER_WORKER]

Each call builds a little of everything (str, list, dict, tuple, float, a class instance,
an exception caught) and returns a small result that is cloned to the main heap. The process
RSS is sampled after a warm-up and at the end; growth beyond 8 MiB fails (a leak of one
block per call would be ~10 MiB or more at this count). Exit status 0 on success.
"""
import sys
import time

import parallel

PER_WORKER = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
BATCH = 10_000


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


def call(i):
    p = Point(i, i * 0.5)
    words = ["w%d" % (i % 13), str(p.x), repr(p.y)]
    d = {w: len(w) for w in words}
    try:
        d["missing"]
    except KeyError as e:
        words.append(type(e).__name__)
    return i, sum(d.values()), "-".join(words)[:20]


def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4  # resident pages of 4 KiB


def main():
    total = 2 * PER_WORKER
    expected_tail = [call(i) for i in range(total - 5, total)]
    done = 0
    baseline = None
    t0 = time.perf_counter()
    while done < total:
        n = min(BATCH, total - done)
        results = parallel.map(call, range(done, done + n), workers=2)
        assert len(results) == n and results[0][0] == done, results[:1]
        done += n
        if baseline is None and done >= 2 * BATCH:
            baseline = rss_kib()
    elapsed = time.perf_counter() - t0
    assert results[-5:] == expected_tail, (results[-5:], expected_tail)
    final = rss_kib()
    growth = final - (baseline or final)
    heaps = parallel._heap_stats()
    print(f"{total} calls on 2 workers in {elapsed:.1f} s ({total / elapsed:.0f} calls/s); "
          f"RSS after warm-up {baseline} KiB, at the end {final} KiB (+{growth} KiB); "
          f"worker heap high-water {max(h['high_water'] for h in heaps) // 1024} KiB")
    if growth > 8 * 1024:
        print("FAIL: RSS grew by more than 8 MiB")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
