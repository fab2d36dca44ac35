#!/usr/bin/env bash
# interp/hook-cost.sh PY_WITHOUT PY_WITH [N] - the main thread's instruction cost of a patch.
#
# Runs a small pure-Python loop (arithmetic, list appends and slices, dict stores: refcount
# traffic on the main thread) under callgrind with both interpreters, once with N iterations
# and once with none, and prints the instructions of the loop alone (the difference, so
# start-up does not dilute it) for each and their ratio. Needs valgrind (Debian package).
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: interp/hook-cost.sh PY_WITHOUT PY_WITH [N]" >&2; exit 2; }
N="${3:-20000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat >"$work/loop.py" <<'PY'
import sys
def work(n):
    s = 0
    items = []
    for i in range(n):
        s += i * 2
        items.append(s)
        if len(items) > 100:
            items = items[50:]
    d = {}
    for i in range(n // 4):
        d[i] = str(i)
    return s, len(d)
work(int(sys.argv[1]))
PY
instructions() { # python n
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" -S -E "$work/loop.py" "$2" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
loop() { echo $(($(instructions "$1" "$N") - $(instructions "$1" 0))); }
without="$(loop "$1")"
with="$(loop "$2")"
printf 'loop of %s iterations, instructions: without %s, with %s, ratio %s\n' "$N" "$without" \
    "$with" "$(awk -v a="$with" -v b="$without" 'BEGIN { printf "%.4f", a / b }')"
