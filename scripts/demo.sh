#!/usr/bin/env bash
# The pxkit demo: installs what is missing, builds pxpython (the patched CPython with the
# `parallel` module), generates the wiki data from text on this machine (once, ~40 s), and
# serves the wiki example on 127.0.0.1 with 2 workers, printing the URLs to try. Ctrl-C stops
# it gracefully. Options go to examples/wiki/run.sh (--port N, --workers N, --data DIR).
#
#   scripts/demo.sh --allocator   the earlier demo instead: the release preset's example
#                                 program and the allocator benchmark ratios
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/deps.sh

if [[ "${1:-}" != --allocator ]]; then
    exec examples/wiki/run.sh "$@"
fi

cmake --preset release
cmake --build --preset release -j "${PX_JOBS:-2}"
demo=build/release/examples/px_demo
echo "demo: running $demo"
"$demo"
bench=build/release/bench/px_bench
if [[ -x "$bench" ]]; then
    echo
    echo "demo: the allocator benchmark, as ratios against glibc malloc and PyObject_Malloc"
    # ratios.py exits 1 when a performance target is missed; the demo reports that and goes on.
    python3 bench/ratios.py "$bench" --repetitions 1 --min-time 0.2 ||
        echo "demo: some performance targets were missed (see above)"
fi
