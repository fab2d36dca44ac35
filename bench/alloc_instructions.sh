#!/usr/bin/env bash
# Instructions per allocation of px_bench's batch cases, counted by callgrind: the same batches
# ratios.py times (1000 allocations, a byte written into each, then the release: one rewind,
# or a free per block), run for a fixed number of batches (PX_BENCH_BATCHES) with only
# px::bench::run_batches collected. The harness's own loop (reading the size, writing the
# byte, keeping the pointer) is in every figure alike; the `none` column is that loop alone.
# Information only: what the timed ratios become without cache misses, branch mispredictions
# or a shared CPU.
#
# Usage: bench/alloc_instructions.sh [path/to/px_bench]   (default build/release/bench/px_bench)
# Env:   BATCHES (default 200), SIZES (default "16 32 64 128 256 512 mix")
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$root/build/release/bench/px_bench}"
[[ -x "$bin" ]] || { echo "alloc_instructions: no $bin (build target px_bench)" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "alloc_instructions: needs valgrind" >&2; exit 2; }
batches="${BATCHES:-200}"
read -r -a sizes <<<"${SIZES:-16 32 64 128 256 512 mix}"
allocators=(none heap heap_free heap_hook malloc pyobject_malloc)

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

per_alloc() { # allocator size -> instructions per allocation, or "-" if the case is absent
    local out="$tmp/callgrind.$1.$2"
    PX_BENCH_BATCHES="$batches" PX_REGION_GIB=1 valgrind --tool=callgrind --collect-atstart=no \
        --toggle-collect='*run_batches*' --callgrind-out-file="$out" "$bin" \
        --benchmark_filter="^alloc_batch/$1/$2/" >"$tmp/stdout" 2>"$tmp/log" || {
        cat "$tmp/log" >&2
        echo "alloc_instructions: px_bench failed for $1/$2" >&2
        exit 2
    }
    if ! grep -q "^alloc_batch/$1/$2/" "$tmp/stdout"; then
        echo "-"
        return
    fi
    awk -v n="$((batches * 1000))" '/^totals:/ { printf "%.1f", $2 / n }' "$out"
}

printf '%5s' size
printf ' %10s' none heap heap_free heap_hook malloc PyObject
printf ' %11s' malloc/heap PyObject/heap
printf '\n'
for size in "${sizes[@]}"; do
    declare -A ir=()
    for a in "${allocators[@]}"; do
        ir[$a]="$(per_alloc "$a" "$size")"
    done
    printf '%5s' "$size"
    for a in "${allocators[@]}"; do
        printf ' %10s' "${ir[$a]}"
    done
    for a in malloc pyobject_malloc; do
        awk -v a="${ir[$a]}" -v b="${ir[heap]}" \
            'BEGIN { if (a == "-" || b == "-") printf " %11s", "-"; else printf " %10.1fx", a / b }'
    done
    printf '\n'
done
echo "(instructions per allocation, its share of the release included; $batches batches each)"
