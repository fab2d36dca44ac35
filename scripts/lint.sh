#!/usr/bin/env bash
# Lint pxkit:
#   1. clang-format-14 on our C/C++ sources must report nothing (--fix rewrites them instead);
#   2. clang-tidy-14 on every translation unit in build/release/compile_commands.json
#      (configure the 'release' preset first): the report is printed, only errors fail;
#   3. shellcheck on our scripts;
#   4. the sanitizer options in CMakePresets.json and sanitizers/env.sh must agree.
# interp/ is not ours to format: it holds CPython's sources and the patches against them.
#
# Usage: scripts/lint.sh [--fix]     PX_LINT_BUILD=build/debug scripts/lint.sh
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 2
build="${PX_LINT_BUILD:-build/release}"
fix=0
[[ "${1:-}" == "--fix" ]] && fix=1
failed=0
tidy_summary="clang-tidy: no compile database"

# ---- our files ----------------------------------------------------------------------------
list_files() { # patterns...
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        # Tracked plus new-but-not-ignored files, so work in progress is checked too.
        git ls-files --cached --others --exclude-standard -- "$@" ':(exclude)interp/' |
            sort -u | while IFS= read -r f; do [[ -f "$f" ]] && printf '%s\n' "$f"; done
    else
        local args=() p
        for p in "$@"; do args+=(-o -name "$p"); done
        find . -path ./build -prune -o -path ./interp -prune -o -path ./.git -prune \
            -o -type f \( "${args[@]:1}" \) -print | sed 's|^\./||' | sort
    fi
}

# ---- 1. clang-format ---------------------------------------------------------------------
mapfile -t sources < <(list_files '*.cpp' '*.cc' '*.c' '*.h' '*.hpp')
echo "lint: clang-format on ${#sources[@]} files"
if ((${#sources[@]} > 0)); then
    if ((fix)); then
        clang-format-14 -i "${sources[@]}"
    elif ! clang-format-14 --dry-run -Werror "${sources[@]}"; then
        echo "lint: FAIL clang-format: run scripts/lint.sh --fix" >&2
        failed=1
    fi
fi

# ---- 2. clang-tidy ------------------------------------------------------------------------
if [[ -f "$build/compile_commands.json" ]]; then
    mapfile -t units < <(python3 - "$build/compile_commands.json" "$root" <<'PY'
import json, os, sys
db, root = sys.argv[1], sys.argv[2]
seen = set()
for entry in json.load(open(db)):
    path = os.path.normpath(os.path.join(entry["directory"], entry["file"]))
    rel = os.path.relpath(path, root)
    if rel.startswith(("..", "build/", "interp/")) or rel in seen:
        continue
    seen.add(rel)
    print(rel)
PY
    )
    echo "lint: clang-tidy on ${#units[@]} translation units ($build)"
    if ((${#units[@]} > 0)); then
        report="$build/clang-tidy.txt"
        printf '%s\n' "${units[@]}" |
            xargs -P 2 -n 1 clang-tidy-14 -p "$build" --quiet \
                --extra-arg=-Wno-unknown-warning-option >"$report" 2>&1
        tidy_rc=$?
        # A warning in a header is reported once per translation unit including it: keep the first.
        awk '/^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$/ { next }
             /: (warning|error|note): / { skip = seen[$0]++ }
             !skip' "$report" >"$report.unique"
        cat "$report.unique"
        warnings="$(grep -c ': warning: ' "$report.unique" || true)"
        errors="$(grep -c ': error: ' "$report.unique" || true)"
        tidy_summary="clang-tidy: $warnings warnings, $errors errors"
        echo "lint: $tidy_summary"
        if ((tidy_rc != 0 || errors > 0)); then
            echo "lint: FAIL clang-tidy reported errors" >&2
            failed=1
        fi
    fi
else
    echo "lint: no $build/compile_commands.json (configure the release preset); clang-tidy skipped"
fi

# ---- 3. shellcheck -------------------------------------------------------------------------
mapfile -t scripts < <(list_files '*.sh' '.ci/run')
if command -v shellcheck >/dev/null 2>&1; then
    echo "lint: shellcheck on ${#scripts[@]} scripts"
    if ((${#scripts[@]} > 0)) && ! shellcheck -x "${scripts[@]}"; then
        echo "lint: FAIL shellcheck" >&2
        failed=1
    fi
else
    echo "lint: shellcheck not installed (scripts/deps.sh installs it); skipped"
fi

# ---- 4. sanitizer options agree -------------------------------------------------------------
if ! python3 - "$root" <<'PY'
import json, os, subprocess, sys
root = sys.argv[1]
presets = json.load(open(os.path.join(root, "CMakePresets.json")))
base = next(p for p in presets["testPresets"] if p["name"] == "test-base")
script = f'. "{root}/sanitizers/env.sh" && env'
env = dict(line.split("=", 1) for line in
           subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                          check=True, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}).stdout.splitlines() if "=" in line)
bad = []
for name, value in base["environment"].items():
    want = value.replace("${sourceDir}", root)
    if env.get(name) != want:
        bad.append(f"{name}:\n  CMakePresets.json: {want}\n  sanitizers/env.sh: {env.get(name)}")
if bad:
    print("lint: FAIL sanitizer options differ:\n" + "\n".join(bad), file=sys.stderr)
    sys.exit(1)
print(f"lint: sanitizer options agree ({', '.join(base['environment'])})")
PY
then
    failed=1
fi

if ((failed)); then
    echo "lint: FAILED"
    exit 1
fi
echo "lint: OK (clang-format: ${#sources[@]} files clean; $tidy_summary)"
