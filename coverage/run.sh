#!/usr/bin/env bash
# Coverage report and per-component gate for a build made with the 'coverage' preset, after
# its tests ran:
#     coverage/run.sh build/coverage
# Writes BUILD_DIR/coverage/index.html (line and branch details), summary.json and gate.txt
# (one line per component: name, line %, PASS/FAIL/SKIP), and exits non-zero if any component
# that exists is under PX_COVERAGE_MIN (default 90) % line coverage.
#
# Measured: the library sources of each component. Not measured: tests beside the code
# (*_test.cpp, tests/), fuzz targets, benchmarks, anything outside the components.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:?usage: coverage/run.sh BUILD_DIR}"
build="$(cd "$build" && pwd)"
min="${PX_COVERAGE_MIN:-90}"
components=(allocator guards)
out="$build/coverage"

cache="$build/CMakeCache.txt"
[[ -f "$cache" ]] || { echo "coverage: $build is not a configured build tree" >&2; exit 2; }

# gcov must match the compiler that wrote the .gcno files.
compiler_id="$(sed -n 's/^CMAKE_CXX_COMPILER_ID:[A-Z]*=//p' "$cache")"
compiler_version="$(sed -n 's/^CMAKE_CXX_COMPILER_VERSION:[A-Z]*=//p' "$cache")"
if [[ -z "$compiler_id" ]]; then
    # Older caches keep the id only in CMakeFiles/<version>/CMakeCXXCompiler.cmake.
    compiler_id="$(sed -n 's/^set(CMAKE_CXX_COMPILER_ID "\(.*\)")$/\1/p' \
        "$build"/CMakeFiles/*/CMakeCXXCompiler.cmake 2>/dev/null | head -n1)"
    compiler_version="$(sed -n 's/^set(CMAKE_CXX_COMPILER_VERSION "\(.*\)")$/\1/p' \
        "$build"/CMakeFiles/*/CMakeCXXCompiler.cmake 2>/dev/null | head -n1)"
fi
major="${compiler_version%%.*}"
if [[ "$compiler_id" == *Clang* ]]; then
    gcov_cmd="llvm-cov-${major} gcov"
elif command -v "gcov-${major}" >/dev/null 2>&1; then
    gcov_cmd="gcov-${major}"
else
    gcov_cmd="gcov"
fi

mkdir -p "$out"
rm -f "$out"/*.html "$out"/*.css "$out/summary.json" "$out/gate.txt"

filters=()
for comp in "${components[@]}"; do
    filters+=(--filter "$comp/")
done

# Filters are regexes relative to the working directory, hence the cd.
cd "$root"
gcovr --root "$root" "$build" \
    --gcov-executable "$gcov_cmd" \
    "${filters[@]}" \
    --exclude '.*_test\.(cpp|cc|h|hpp)$' \
    --exclude '(.*/)?tests?/' \
    --exclude '(.*/)?fuzz/' \
    --exclude '(.*/)?bench/' \
    --exclude-throw-branches \
    --exclude-unreachable-branches \
    --html-title "pxkit coverage" \
    --html-details "$out/index.html" \
    --json-summary "$out/summary.json" --json-summary-pretty \
    --print-summary

echo
status=0
python3 - "$out/summary.json" "$out/gate.txt" "$min" "$root" "${components[@]}" <<'PY' || status=$?
import json, os, sys

summary_path, gate_path, minimum, root = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
components = sys.argv[5:]
files = json.load(open(summary_path)).get("files", [])
failed = False
lines = []
for comp in components:
    mine = [f for f in files if f["filename"].startswith(comp + "/")]
    total = sum(f["line_total"] for f in mine)
    covered = sum(f["line_covered"] for f in mine)
    if not os.path.isdir(os.path.join(root, comp)):
        verdict, pct, note = "SKIP", "-", f"{comp}/ does not exist yet"
    elif total == 0:
        verdict, pct, note = "FAIL", "0.0", "no coverage data (no sources compiled, or no test ran)"
        failed = True
    else:
        value = 100.0 * covered / total
        pct = f"{value:.1f}"
        ok = value >= minimum
        verdict = "PASS" if ok else "FAIL"
        note = f"{covered}/{total} lines, gate {minimum:g} %"
        failed |= not ok
    lines.append(f"{comp} {pct} {verdict}")
    print(f"coverage gate: {comp:<10} {pct:>5} %  {verdict}  ({note})")
open(gate_path, "w").write("\n".join(lines) + "\n")
sys.exit(1 if failed else 0)
PY
echo "coverage: report at $out/index.html"
exit "$status"
