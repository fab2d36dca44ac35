#!/usr/bin/env bash
# The same callback in a context and on the main thread, by instruction counts (callgrind):
# bench/parallel_map.py's work(20000) twice, on the main thread and in one context, after the
# main thread has quickened and specialised it, so both run the same bytecode. Each count is
# the difference between a run with two calls and one with none, for the thread that ran
# them, so start-up, imports and the worker's creation cancel out. parallel_map.py times the
# same ratio on one pinned core; this one is free of the machine's noise.
#
# Usage: bench/context_instructions.sh [path/to/pxpython]   (default: interp/build.sh release)
# Prints both counts and context/main speed (main instructions / context instructions); the
# issue's goal is 0.9 or more, reported, not gated. Exit 2 if a run failed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${1:-$("$root/interp/build.sh" release | tail -n1)}"
command -v valgrind >/dev/null || { echo "context_instructions: needs valgrind" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Instructions of `mode` with `reps` calls: the main thread's (thread 1), or every other
# thread's (the one worker; the counts of threads that ran nothing are 0).
count() { # mode reps
    # Valgrind cannot map the default 64 GiB region of context heaps: 1 GiB is plenty here.
    PX_REGION_GIB=1 PYTHONHASHSEED=0 valgrind --tool=callgrind --separate-threads=yes \
        --callgrind-out-file="$tmp/cg.$1.$2" "$py" "$root/bench/context_work.py" "$1" "$2" \
        >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; echo "context_instructions: run failed" >&2; exit 2; }
    local files=("$tmp"/cg."$1"."$2"-*)
    local f total=0 n
    for f in "${files[@]}"; do
        [[ "$f" == *-01 ]] && [[ "$1" == context ]] && continue
        [[ "$f" != *-01 ]] && [[ "$1" == main ]] && continue
        n="$(awk '/^(summary|totals):/ { print $2; exit }' "$f")"
        total=$((total + ${n:-0}))
    done
    echo "$total"
}

counts=()
for mode in main context; do
    for reps in 2 0; do
        n="$(count "$mode" "$reps")" || exit 2
        counts+=("$n")
    done
done
main=$((counts[0] - counts[1]))
ctx=$((counts[2] - counts[3]))
printf 'work(20000) x 2, instructions: main thread %d, one context %d\n' "$main" "$ctx"
awk -v m="$main" -v c="$ctx" 'BEGIN { r = m / c; printf "context/main speed %.3fx (goal 0.9x: %s)\n", r, (r >= 0.9 ? "met" : "not met") }'
