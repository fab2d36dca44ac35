#!/usr/bin/env bash
# The pxkit demo: installs what is missing, builds the 'release' preset, runs the example
# program, then the benchmarks when they have been built.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/deps.sh
cmake --preset release
cmake --build --preset release -j "${PX_JOBS:-2}"

demo=build/release/examples/px_demo
if [[ ! -x "$demo" ]]; then
    echo "demo: $demo has not been built: examples/ does not define px_demo yet" >&2
    exit 1
fi
echo "demo: running $demo"
"$demo"

bench=build/release/bench/px_bench
if [[ -x "$bench" ]]; then
    echo
    echo "demo: the allocator benchmark, as ratios against glibc malloc and PyObject_Malloc"
    # ratios.py exits 1 when a performance target is missed; the demo reports that and goes on.
    python3 bench/ratios.py "$bench" --repetitions 1 --min-time 0.2 ||
        echo "demo: some performance targets were missed (see above)"
else
    echo "demo: no $bench yet; benchmarks skipped"
fi
