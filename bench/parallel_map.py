"""parallel.map on this machine: scaling, context cost and heap use (issue 3's "Must show").

Run with pxpython:  pxpython bench/parallel_map.py [--stock /usr/bin/python3.11] [--quick]

Prints, measured in this one run (best of N, so a noisy machine costs little):
  1. the CPU-bound callback through parallel.map with 2 workers vs 1 worker (target >= 1.8x),
     beside the same work on stock CPython with 2 threads and with a 2-process Pool;
  2. the callback in a context vs on the main thread, both pinned to one core (goal >= 0.9x);
  3. the context heap's high-water mark after a callback allocates and drops 10^7 small
     objects (target < 2 MiB).
Exit status 1 if a target is missed (1 and 3; 2 is a goal and only reported).
"""
import argparse
import os
import subprocess
import sys
import textwrap
import time

WORK = textwrap.dedent('''
    def work(n):
        """Loops, arithmetic, string building and dict work: pure Python."""
        total = 0
        parts = []
        counts = {}
        for i in range(n):
            total += (i * i) % 7 - (i >> 3)
            key = "k%d" % (i % 97)
            counts[key] = counts.get(key, 0) + 1
            if i % 50 == 0:
                parts.append(str(total))
        return total, len("".join(parts)), len(counts), counts["k0"]
''')
exec(WORK)

ITEMS, N = 16, 60000


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def stock_numbers(stock, repeat):
    """Threads and a process pool on stock CPython, in a child process."""
    code = WORK + textwrap.dedent(f'''
        import time, threading, multiprocessing
        ITEMS, N, REPEAT = {ITEMS}, {N}, {repeat}
        def best(fn):
            ts = []
            for _ in range(REPEAT):
                t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
            return min(ts)
        def serial():
            [work(N) for _ in range(ITEMS)]
        def threads():
            out = [None] * ITEMS
            def run(k):
                for i in range(k, ITEMS, 2):
                    out[i] = work(N)
            ts = [threading.Thread(target=run, args=(k,)) for k in range(2)]
            [t.start() for t in ts]; [t.join() for t in ts]
        if __name__ == "__main__":
            with multiprocessing.Pool(2) as pool:
                pool.map(work, [10] * 2)
                proc = best(lambda: pool.map(work, [N] * ITEMS, chunksize=1))
            print(best(serial), best(threads), proc)
    ''')
    out = subprocess.run([stock, "-c", code], capture_output=True, text=True, check=True)
    return [float(x) for x in out.stdout.split()]


def pinned_ratio(repeat):
    """Child process pinned to one CPU: main thread vs one worker, same core."""
    code = WORK + textwrap.dedent(f'''
        import os, time, parallel
        os.sched_setaffinity(0, {{min(os.sched_getaffinity(0))}})
        ITEMS, N, REPEAT = {ITEMS // 2}, {N}, {repeat}
        def best(fn):
            ts = []
            for _ in range(REPEAT):
                t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
            return min(ts)
        parallel.map(work, [10], workers=1)          # start the worker on this core
        main = best(lambda: [work(N) for _ in range(ITEMS)])
        ctx = best(lambda: parallel.map(work, [N] * ITEMS, workers=1))
        print(main, ctx)
    ''')
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return [float(x) for x in out.stdout.split()]


def heap_high_water(count):
    """Child process: one callback allocates and drops `count` small objects."""
    code = textwrap.dedent(f'''
        import parallel
        def churn(n):
            for i in range(n):
                x = (i, str(i), [i])      # a tuple, a str and a list per iteration, all dropped
            return n
        assert parallel.map(churn, [{count}], workers=1) == [{count}]
        print(max(h["high_water"] for h in parallel._heap_stats()))
    ''')
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return int(out.stdout)


def main():
    import parallel

    ap = argparse.ArgumentParser()
    ap.add_argument("--stock", default="/usr/bin/python3.11",
                    help="stock CPython 3.11 for the threads / multiprocessing lines")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, 10^6 objects")
    args = ap.parse_args()
    repeat = 3 if args.quick else 5
    ok = True

    expected = [work(N)] * ITEMS
    assert parallel.map(work, [N] * ITEMS, workers=2) == expected
    one = best(lambda: parallel.map(work, [N] * ITEMS, workers=1), repeat)
    two = best(lambda: parallel.map(work, [N] * ITEMS, workers=2), repeat)
    main_thread = best(lambda: [work(N) for _ in range(ITEMS)], repeat)
    print(f"cpu-bound callback, {ITEMS} calls of work({N}), best of {repeat}:")
    print(f"  pxpython main thread      {main_thread * 1e3:8.1f} ms")
    print(f"  parallel.map, 1 worker    {one * 1e3:8.1f} ms")
    print(f"  parallel.map, 2 workers   {two * 1e3:8.1f} ms   2 vs 1 worker: {one / two:.2f}x "
          f"(target >= 1.80x)")
    ok &= one / two >= 1.8
    if os.path.exists(args.stock):
        serial, threads, procs = stock_numbers(args.stock, repeat)
        print(f"  stock {os.path.basename(args.stock)} serial     {serial * 1e3:8.1f} ms")
        print(f"  stock, 2 threads          {threads * 1e3:8.1f} ms   {serial / threads:.2f}x "
              f"serial (the GIL allows at most 1.0x)")
        print(f"  stock, Pool(2) processes  {procs * 1e3:8.1f} ms   {serial / procs:.2f}x serial")
        print(f"  parallel.map 2 workers vs stock serial: {serial / two:.2f}x")
    else:
        print(f"  ({args.stock} not found: no stock lines)")

    # Another Python thread wants the GIL the whole time (the main thread holds it while it
    # waits): it sets the interpreter's eval breaker every 5 ms, which contexts do not read.
    import threading
    stop = threading.Event()
    spinner = threading.Thread(target=lambda: [work(100) for _ in iter(stop.is_set, True)])
    spinner.start()
    try:
        busy = best(lambda: parallel.map(work, [N] * ITEMS, workers=2), repeat)
    finally:
        stop.set()
        spinner.join()
    print(f"  2 workers with a busy Python thread waiting for the GIL: {busy * 1e3:.1f} ms "
          f"({two / busy:.2f}x the quiet run)")

    main_pinned, ctx_pinned = pinned_ratio(repeat)
    print(f"same core: main thread {main_pinned * 1e3:.1f} ms, one context "
          f"{ctx_pinned * 1e3:.1f} ms: context/main speed {main_pinned / ctx_pinned:.2f}x "
          f"(goal >= 0.90x)")

    count = 10**6 if args.quick else 10**7
    hw = heap_high_water(count)
    print(f"heap: {count:.0e} small objects made and dropped in one callback: high-water "
          f"{hw / 1024:.0f} KiB (target < 2048 KiB)")
    ok &= hw < 2 * 1024 * 1024
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
