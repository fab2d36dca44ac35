#!/usr/bin/env python3
"""Runs px_bench and checks the context heap against its performance targets.

    bench/ratios.py build/release/bench/px_bench            # run, print, check
    bench/ratios.py build/release/bench/px_bench --cpu 1    # pinned with taskset
    bench/ratios.py --json saved.json                       # check a saved run

Targets (all from the same run, medians of --repetitions runs):
  * small allocation: the heap is >= 10x faster than glibc malloc and >= 5x faster than
    PyObject_Malloc, per size (16, 32, 64, 128 bytes), on the batch workload of bench/batch.h;
  * rewind: rewinding 10^6 objects costs the same order as rewinding 10 objects once the
    chunk count is accounted for (see rewind_target below).
Prints one PASS or FAIL line per target; exits 1 if any failed, 2 if the run itself failed.
Python standard library only.
"""

import argparse
import json
import re
import shutil
import subprocess
import sys

SIZES = (16, 32, 64, 128)
MALLOC_TARGET = 10.0
PYOBJECT_TARGET = 5.0
REWIND_SMALL, REWIND_LARGE = 10, 1000000
REWIND_MARGIN = 10.0


def run_bench(args):
    cmd = [args.px_bench, "--benchmark_format=json",
           f"--benchmark_repetitions={args.repetitions}",
           f"--benchmark_min_time={args.min_time}",
           "--benchmark_filter=" + args.filter]
    if args.repetitions > 1:
        cmd.append("--benchmark_report_aggregates_only=true")
    if args.cpu is not None:
        if shutil.which("taskset") is None:
            sys.exit("ratios: --cpu needs taskset (Debian package util-linux)")
        cmd = ["taskset", "-c", str(args.cpu)] + cmd
    print("ratios: running " + " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        sys.exit(f"ratios: px_bench exited with status {proc.returncode}")
    return json.loads(proc.stdout)


def base_name(run_name):
    """alloc_batch/heap/16 stays; rewind/objects/10/iterations:50/manual_time -> rewind/objects/10."""
    return re.sub(r"/(iterations:\d+|manual_time|real_time|min_time:[^/]+)", "", run_name)


def collect(report):
    """name -> result entry: the median aggregate when there is one, else the single run."""
    results, singles = {}, {}
    for entry in report["benchmarks"]:
        name = base_name(entry.get("run_name", entry["name"]))
        if entry.get("error_occurred"):
            results[name] = None
            continue
        if entry.get("run_type") == "aggregate":
            if entry.get("aggregate_name") == "median":
                results[name] = entry
        else:
            singles.setdefault(name, entry)
    for name, entry in singles.items():
        results.setdefault(name, entry)
    return results


def ns_per_item(results, name):
    entry = results.get(name)
    if not entry or not entry.get("items_per_second"):
        return None
    return 1e9 / entry["items_per_second"]


def counter(results, name, key):
    entry = results.get(name)
    return None if not entry else entry.get(key)


def fmt(value, digits=2, unit=""):
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def ratio(slow, fast):
    return None if slow is None or fast is None or fast <= 0 else slow / fast


class Verdicts:
    def __init__(self):
        self.lines, self.failed = [], False

    def add(self, ok, text):
        self.failed |= not ok
        self.lines.append(("PASS " if ok else "FAIL ") + text)


def allocation_table(results, verdicts):
    print("Small allocation, batch of 1000 then release (ns per allocation)")
    print(f"{'size':>5} {'heap':>7} {'heap_free':>9} {'heap_hook':>9} {'malloc':>7} "
          f"{'PyObject':>8} {'malloc/heap':>11} {'PyObject/heap':>13}")
    vs_malloc, vs_py = [], []
    for size in SIZES:
        heap = ns_per_item(results, f"alloc_batch/heap/{size}")
        free_ = ns_per_item(results, f"alloc_batch/heap_free/{size}")
        hook = ns_per_item(results, f"alloc_batch/heap_hook/{size}")
        mall = ns_per_item(results, f"alloc_batch/malloc/{size}")
        py = ns_per_item(results, f"alloc_batch/pyobject_malloc/{size}")
        vs_malloc.append(ratio(mall, heap))
        vs_py.append(ratio(py, heap))
        print(f"{size:>5} {fmt(heap):>7} {fmt(free_):>9} {fmt(hook):>9} {fmt(mall):>7} "
              f"{fmt(py):>8} {fmt(vs_malloc[-1], 1, 'x'):>11} {fmt(vs_py[-1], 1, 'x'):>13}")
    print()
    for what, ratios, target in (("glibc malloc", vs_malloc, MALLOC_TARGET),
                                 ("PyObject_Malloc", vs_py, PYOBJECT_TARGET)):
        text = f"heap small alloc >= {target:g}x faster than {what}"
        if None in ratios:
            verdicts.add(False, text + ": not measured for every size")
        else:
            verdicts.add(min(ratios) >= target, text + f" (worst size: {min(ratios):.1f}x)")


def rewind_table(results, verdicts):
    print("Rewind: only the rewind is timed (ns per rewind; chunks = chunks it released)")
    print(f"{'objects':>8} {'ns':>9} {'chunks':>7} {'ns, default cache':>18} {'chunks':>7}")
    for objects in (10, 1000, 100000, 1000000):
        big = f"rewind/objects/{objects}"
        small = f"rewind/objects_default_cache/{objects}"
        print(f"{objects:>8} {fmt(counter(results, big, 'ns_per_rewind'), 1):>9} "
              f"{fmt(counter(results, big, 'chunks'), 2):>7} "
              f"{fmt(counter(results, small, 'ns_per_rewind'), 1):>18} "
              f"{fmt(counter(results, small, 'chunks'), 2):>7}")
    print()
    print(f"{'chunks':>8} {'ns':>9} {'ns/chunk':>9}   (one large block per chunk, no objects)")
    for chunks in (1, 8, 64, 512):
        t = counter(results, f"rewind/chunks/{chunks}", "ns_per_rewind")
        print(f"{chunks:>8} {fmt(t, 1):>9} {fmt(ratio(t, chunks), 1):>9}")
    print()
    rewind_target(results, verdicts)


def rewind_target(results, verdicts):
    """Same order of magnitude, honestly defined.

    A rewind must hand back every chunk the callback filled (a list unlink and a push on the
    cache each), so its cost is a + b * chunks and may grow with chunks, never with objects.
    10^6 objects of 32 bytes fill about 47 MiB, i.e. ~16 chunks, while 10 objects fit in the
    chunk already open. Taking the fixed part a as one chunk's worth, the expected cost ratio
    is scale = (1 + chunks_large) / (1 + chunks_small). The target is
        t(10^6) / t(10) < 10 * scale.
    A rewind that walked objects would be ~10^5 times slower, some 600 times past the line
    (scale is about 17); one that only releases chunks lands near scale.
    """
    t_small = counter(results, f"rewind/objects/{REWIND_SMALL}", "ns_per_rewind")
    t_large = counter(results, f"rewind/objects/{REWIND_LARGE}", "ns_per_rewind")
    c_small = counter(results, f"rewind/objects/{REWIND_SMALL}", "chunks")
    c_large = counter(results, f"rewind/objects/{REWIND_LARGE}", "chunks")
    if None in (t_small, t_large, c_small, c_large):
        verdicts.add(False, "rewind(10^6 objects) same order as rewind(10): not measured")
        return
    raw = t_large / t_small
    scale = (1 + c_large) / (1 + c_small)
    print(f"rewind(10^6)/rewind(10) = {raw:.1f}x raw; chunks {c_large:.2f} vs {c_small:.2f}, "
          f"scale {scale:.1f}; per-chunk-scaled ratio {raw / scale:.2f}x")
    print()
    verdicts.add(raw < REWIND_MARGIN * scale,
                 f"rewind(10^6 objects) within the same order as rewind(10 objects): "
                 f"{raw / scale:.2f}x per-chunk-scaled < {REWIND_MARGIN:g}x")


def context_table(results):
    empty = ns_per_item(results, "context/empty_loop")
    empty_s = fmt(empty, 2)
    print(f"Context checks (ns per check; net = minus the empty loop, {empty_s} ns)")
    for name in ("context/in_parallel_context/main", "context/in_parallel_context/worker",
                 "context/owner_of/context_memory", "context/owner_of/main_memory",
                 "context/is_context_memory/main_memory", "context/owner/worker_own_memory"):
        t = ns_per_item(results, name)
        net = None if t is None or empty is None else t - empty
        print(f"  {name[len('context/'):]:<36} {fmt(t):>6}  net {fmt(net):>6}")
    print()
    fixed = ns_per_item(results, "snapshot_rewind/empty")
    print(f"Snapshot + rewind of an empty frame (per-callback fixed cost): {fmt(fixed, 1)} ns")
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("px_bench", nargs="?", help="path to the px_bench binary")
    parser.add_argument("--json", help="read a saved --benchmark_format=json report instead")
    parser.add_argument("--cpu", type=int, help="pin px_bench to this CPU with taskset")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=0.5,
                        help="seconds per benchmark (--benchmark_min_time)")
    parser.add_argument("--filter", default=".", help="--benchmark_filter (default: all)")
    args = parser.parse_args()
    if args.json:
        with open(args.json, encoding="utf-8") as f:
            report = json.load(f)
    elif args.px_bench:
        report = run_bench(args)
    else:
        parser.error("give the px_bench path or --json")

    results = collect(report)
    ctx = report.get("context", {})
    print(f"px_bench on {ctx.get('num_cpus', '?')} CPU(s) at {ctx.get('mhz_per_cpu', '?')} MHz, "
          f"load average {ctx.get('load_avg', '?')}\n")
    verdicts = Verdicts()
    allocation_table(results, verdicts)
    rewind_table(results, verdicts)
    context_table(results)
    for line in verdicts.lines:
        print(line)
    errors = [name for name, entry in results.items() if entry is None]
    if errors:
        print("FAIL benchmarks reported errors: " + ", ".join(sorted(errors)))
        verdicts.failed = True
    return 1 if verdicts.failed else 0


if __name__ == "__main__":
    sys.exit(main())
