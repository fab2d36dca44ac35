#!/usr/bin/env bash
# Counts the instructions of one rewind with callgrind, for heaps holding 10 .. 10^6 objects,
# and checks the rewind target: rewinding 10^6 live small objects costs the same order as
# rewinding 10 (ratio < 10), in the steady state of a context (`repeat`: the fill reuses the
# chunks an earlier rewind cached) and on a fresh heap's first rewind (`first`).
#
# An instruction count is the work a rewind does, free of what a timer adds on a shared
# machine: cache and TLB misses, preemption, the clock read. px_bench times the same rewind
# with warm and with cold caches (bench/README.md).
#
# Usage: bench/rewind_instructions.sh [path/to/px_rewind_count]
#        (default build/release/bench/px_rewind_count; needs valgrind)
# Prints a table and one PASS/FAIL line per mode; exits 1 if one failed, 2 if a run failed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$root/build/release/bench/px_rewind_count}"
[[ -x "$bin" ]] || { echo "rewind_instructions: no $bin (build target px_rewind_count)" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "rewind_instructions: needs valgrind" >&2; exit 2; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Instructions of one counted rewind. Valgrind cannot map the heap's default 64 GiB region,
# so it is cut to 1 GiB. LD_BIND_NOW resolves every library symbol at start-up: without it
# the first rewind would also count the dynamic linker binding realloc and memcpy.
count() { # objects mode -> "instructions chunks_released"
    local out="$tmp/callgrind.$1.$2" line
    line="$(PX_REGION_GIB=1 LD_BIND_NOW=1 valgrind --tool=callgrind --collect-atstart=no \
        --instr-atstart=no --callgrind-out-file="$out" "$bin" "$1" "$2" 2>"$tmp/log")" || {
        cat "$tmp/log" >&2
        echo "rewind_instructions: $bin $1 $2 failed" >&2
        exit 2
    }
    local total
    total="$(awk '/^totals:/ { print $2 }' "$out")"
    [[ -n "$total" ]] || { echo "rewind_instructions: no totals in $out" >&2; exit 2; }
    # px_rewind_count prints "objects N chunks_released K mode M".
    echo "$total $(awk '{ print $4 }' <<<"$line")"
}

sizes=(10 1000 100000 1000000)
declare -A ir chunks
printf '%-8s %10s %8s %12s %8s\n' objects 'Ir repeat' chunks 'Ir first' chunks
for n in "${sizes[@]}"; do
    for mode in repeat first; do
        read -r ir["$n.$mode"] chunks["$n.$mode"] < <(count "$n" "$mode")
    done
    printf '%-8s %10s %8s %12s %8s\n' "$n" "${ir[$n.repeat]}" "${chunks[$n.repeat]}" \
        "${ir[$n.first]}" "${chunks[$n.first]}"
done
echo "(Ir: instructions between the two client requests: the rewind and the ~20 of main()"
echo " around the call; chunks: chunks the rewind released)"
echo

failed=0
for mode in repeat first; do
    small="${ir[10.$mode]}" large="${ir[1000000.$mode]}"
    ratio="$(awk -v a="$large" -v b="$small" 'BEGIN { printf "%.2f", a / b }')"
    if awk -v r="$ratio" 'BEGIN { exit !(r < 10) }'; then
        verdict=PASS
    else
        verdict=FAIL
        failed=1
    fi
    echo "$verdict rewind instructions ($mode): 10^6 objects $large vs 10 objects $small," \
        "ratio ${ratio}x < 10x"
done
exit "$failed"
