"""What protected objects cost (parallel.dict; API.md "Main-thread interaction and shared state").

Run with pxpython:  pxpython bench/protect_bench.py [--quick]

Prints, measured in this one run (best of N, so a noisy machine costs little):
  1. reads from contexts: a callback that looks up keys of a parallel.dict vs the same
     lookups in a plain main-owned dict (which contexts may read, never write): the read
     lock's cost per lookup;
  2. read scaling: the parallel.dict reads with 2 workers vs 1 (readers share the lock);
  3. writes from contexts: item assignments into a parallel.dict (each value cloned onto the
     main heap in a main-heap section) with 2 workers vs 1: writes are serialised, so this
     shows what the serialisation costs, not a speed-up.
Nothing is gated: these are reported figures.
"""
import argparse
import time

import parallel

KEYS = ["key%d" % i for i in range(1000)]
PLAIN = {k: i for i, k in enumerate(KEYS)}
SHARED = parallel.dict(PLAIN)
LOOKUPS = 2000


def read_from(d, n):
    keys, total = KEYS, 0
    for r in range(n):
        for k in keys[r % 7::7]:
            total += d[k]
    return total


def read_plain(n):
    return read_from(PLAIN, n)


def read_shared(n):
    return read_from(SHARED, n)


def write_shared(n):
    d = SHARED
    for i in range(n):
        d[KEYS[i % 1000]] = i
    return None


def best(func, items, workers, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        parallel.map(func, items, workers=workers)
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer items and repeats")
    args = ap.parse_args()
    repeat = 3 if args.quick else 5
    calls = 40 if args.quick else 200
    rounds = LOOKUPS // 143  # each round looks up 1000/7 keys
    items = [rounds] * calls
    lookups = calls * rounds * (1000 // 7)

    plain1 = best(read_plain, items, 1, repeat)
    shared1 = best(read_shared, items, 1, repeat)
    shared2 = best(read_shared, items, 2, repeat)
    print("reads, 1 worker:  plain dict %.1f ns/lookup, parallel.dict %.1f ns/lookup "
          "(%.2fx the plain dict's time)"
          % (plain1 / lookups * 1e9, shared1 / lookups * 1e9, shared1 / plain1))
    print("reads, parallel.dict: 2 workers vs 1: %.2fx" % (shared1 / shared2))

    writes = [500] * calls
    n_writes = 500 * calls
    w1 = best(write_shared, writes, 1, repeat)
    w2 = best(write_shared, writes, 2, repeat)
    print("writes, parallel.dict: 1 worker %.0f ns/write, 2 workers %.0f ns/write "
          "(2 vs 1: %.2fx; writes are serialised)"
          % (w1 / n_writes * 1e9, w2 / n_writes * 1e9, w1 / w2))
    stats = parallel._protect_stats()
    print("references kept for readers after the runs: %d (released in total: %d)"
          % (stats["retired"], stats["released"]))


if __name__ == "__main__":
    main()
