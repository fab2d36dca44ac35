#!/usr/bin/env bash
# Run every pxkit test: the one command CI runs (.ci/run) and the README's "run every test".
#
# Stages, in order; each runs even if an earlier one failed:
#   deps            scripts/deps.sh (Debian packages)
#   release         configure + build + ctest of the 'release' preset
#   lint            scripts/lint.sh on release's compile db: clang-format must be clean,
#                   clang-tidy errors fail, warnings are only reported
#   asan, tsan      configure + build + ctest of those presets
#   fuzz            configure + build + ctest of the 'fuzz' preset (seed corpus replay)
#   coverage        configure + build + ctest of the 'coverage' preset, then
#   coverage-gate   coverage/run.sh: >= 90 % line coverage of allocator/ and of guards/, each
#   fuzz-run:NAME   for each NAME in fuzz/targets.txt: the libFuzzer binary build/fuzz/fuzz/NAME
#                   runs PX_FUZZ_SECONDS (60) on a copy of fuzz/corpus/NAME/ made in
#                   build/fuzz-work/NAME/; fails if it crashes or runs under
#                   PX_FUZZ_MIN_EXEC_S (1000) executions per second
#   pxpython-release  interp/smoke.sh release (builds the patched interpreter with pxkit's
#                   libraries when not cached), then with it tests/python/hooks/, the
#                   Python suites in poison mode, the stress run and CPython's regrtest
#                   modules of tests/python/regrtest.txt
#   pxpython-asan   the asan flavour of pxpython: hook tests and Python suites, 0 reports
# A stage whose component does not exist yet (no fuzz/CMakeLists.txt, no allocator/ nor
# guards/) is skipped with a message and not counted as failed. Warnings are errors here
# (PX_WERROR=ON). Logs: build/test-logs/. The last line counts stages:
# "N passed, N failed, N skipped"; the exit code is non-zero if any stage failed.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 2

jobs="${PX_JOBS:-2}"
werror="${PX_WERROR:-ON}"
fuzz_seconds="${PX_FUZZ_SECONDS:-60}"
fuzz_min_rate="${PX_FUZZ_MIN_EXEC_S:-1000}"
fuzz_timeout="${PX_FUZZ_TIMEOUT:-10}"
logs="$root/build/test-logs"
mkdir -p "$logs"

names=() results=() times=() details=()
declare -A built=()

record() { # stage result seconds detail
    names+=("$1") results+=("$2") times+=("$3") details+=("$4")
    printf '=== %s: %s (%ss) %s\n' "$1" "$2" "$3" "$4"
}
banner() { printf '\n=== %s ===\n' "$1"; }
show_tail() { # log [lines]
    echo "--- last ${2:-60} lines of $1 ---"
    tail -n "${2:-60}" "$1"
    echo "---"
}

# ---- stages ----------------------------------------------------------------------------------
stage_deps() {
    banner deps
    local t0=$SECONDS log="$logs/deps.log"
    if scripts/deps.sh >"$log" 2>&1; then
        record deps PASS $((SECONDS - t0)) "$(tail -n 1 "$log")"
    else
        show_tail "$log"
        record deps FAIL $((SECONDS - t0)) "scripts/deps.sh failed"
    fi
}

# configure + build + ctest of one preset. $2: a folder whose CMakeLists.txt must exist.
stage_preset() {
    local preset="$1" needs="${2:-}"
    banner "$preset"
    if [[ -n "$needs" && ! -f "$needs/CMakeLists.txt" ]]; then
        echo "$needs/CMakeLists.txt does not exist yet: nothing to test in '$preset'"
        record "$preset" SKIP 0 "no $needs/CMakeLists.txt yet"
        return
    fi
    local t0=$SECONDS log="$logs/$preset.log"
    : >"$log"
    if ! cmake --preset "$preset" -DPX_WERROR="$werror" >>"$log" 2>&1; then
        show_tail "$log"
        record "$preset" FAIL $((SECONDS - t0)) "configure failed"
        return
    fi
    if ! cmake --build --preset "$preset" -j "$jobs" >>"$log" 2>&1; then
        show_tail "$log" 80
        record "$preset" FAIL $((SECONDS - t0)) "build failed"
        return
    fi
    built[$preset]=1

    local launcher=()
    if [[ "$preset" == tsan ]] && (($(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0) > 28)); then
        # TSan's shadow layout in clang-14 cannot cope with more ASLR entropy than 28 bits.
        launcher=(setarch "$(uname -m)" -R)
    fi
    local rc=0 ctest_start
    ctest_start="$(wc -l <"$log")"
    "${launcher[@]}" ctest --preset "$preset" 2>&1 | tee -a "$log" || rc=$?
    local out count
    out="$(tail -n +"$((ctest_start + 1))" "$log")"
    count="$(sed -n 's/.*tests passed, \([0-9]*\) tests\{0,1\} failed out of \([0-9]*\).*/\2 tests, \1 failed/p' <<<"$out" | tail -n 1)"
    if grep -q 'No tests were found' <<<"$out"; then
        count="0 tests"
        # A suite that exists but registers nothing is broken, not empty.
        local suite=tests
        [[ "$preset" == fuzz ]] && suite=fuzz
        if [[ -f "$suite/CMakeLists.txt" ]]; then
            record "$preset" FAIL $((SECONDS - t0)) "no tests registered although $suite/ exists"
            return
        fi
    fi
    if ((rc == 0)); then
        record "$preset" PASS $((SECONDS - t0)) "${count:-ctest passed}"
    else
        record "$preset" FAIL $((SECONDS - t0)) "ctest failed: ${count:-exit $rc}"
    fi
}

stage_lint() {
    banner lint
    local t0=$SECONDS log="$logs/lint.log" rc=0
    PX_LINT_BUILD=build/release scripts/lint.sh 2>&1 | tee "$log" || rc=$?
    if ((rc == 0)); then
        record lint PASS $((SECONDS - t0)) "$(sed -n 's/^lint: OK *//p' "$log" | tail -n 1)"
    else
        record lint FAIL $((SECONDS - t0)) "$(grep -o 'FAIL .*' "$log" | head -n 1)"
    fi
}

stage_coverage_gate() {
    banner coverage-gate
    local t0=$SECONDS log="$logs/coverage-gate.log" rc=0
    if [[ ! -d allocator && ! -d guards ]]; then
        echo "neither allocator/ nor guards/ exists yet: no coverage to gate"
        record coverage-gate SKIP 0 "no allocator/ or guards/ yet"
        return
    fi
    if [[ -z "${built[coverage]:-}" ]]; then
        record coverage-gate FAIL 0 "the coverage build failed"
        return
    fi
    coverage/run.sh build/coverage 2>&1 | tee "$log" || rc=$?
    local detail=""
    if [[ -f build/coverage/coverage/gate.txt ]]; then
        detail="$(awk '{printf "%s%s %s%% %s", sep, $1, $2, $3; sep=", "}' build/coverage/coverage/gate.txt)"
    fi
    if ((rc == 0)); then
        record coverage-gate PASS $((SECONDS - t0)) "$detail"
    else
        record coverage-gate FAIL $((SECONDS - t0)) "${detail:-coverage/run.sh failed}"
    fi
}

stage_fuzz_run() { # target name
    local name="$1" stage="fuzz-run:$1"
    banner "$stage"
    if [[ ! -f fuzz/CMakeLists.txt ]]; then
        echo "fuzz/CMakeLists.txt does not exist yet: $name is not built"
        record "$stage" SKIP 0 "no fuzz/CMakeLists.txt yet"
        return
    fi
    if [[ -z "${built[fuzz]:-}" ]]; then
        record "$stage" FAIL 0 "the fuzz build failed"
        return
    fi
    local bin="build/fuzz/fuzz/$name"
    if [[ ! -x "$bin" ]]; then
        record "$stage" FAIL 0 "no $bin: fuzz/CMakeLists.txt must px_add_fuzzer($name ...)"
        return
    fi
    local work="build/fuzz-work/$name"
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/artifacts"
    if [[ -d "fuzz/corpus/$name" ]]; then
        cp -R "fuzz/corpus/$name/." "$work/corpus/"
    else
        echo "note: no seed corpus fuzz/corpus/$name/; starting from nothing"
    fi
    local args=(-max_total_time="$fuzz_seconds" -print_final_stats=1 -timeout="$fuzz_timeout"
        -artifact_prefix="$work/artifacts/")
    [[ -f "fuzz/dictionaries/$name.dict" ]] && args+=(-dict="fuzz/dictionaries/$name.dict")

    local t0=$SECONDS start end rc=0 log="$work/fuzz.log"
    echo "$bin ${args[*]} $work/corpus"
    start="$(date +%s.%N)"
    (
        # shellcheck disable=SC1091 # env.sh is checked on its own
        . "$root/sanitizers/env.sh" && exec "$bin" "${args[@]}" "$work/corpus"
    ) >"$log" 2>&1 || rc=$?
    end="$(date +%s.%N)"
    cp "$log" "$logs/fuzz-run-$name.log"

    local units rate
    units="$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)"
    rate="$(awk -v u="${units:-0}" -v s="$start" -v e="$end" \
        'BEGIN { d = e - s; if (d <= 0) d = 1; printf "%d", u / d }')"
    grep -E '^(stat::|Done )' "$log" || true
    if ((rc != 0)); then
        show_tail "$log" 80
        record "$stage" FAIL $((SECONDS - t0)) "crashed (exit $rc); input saved in $work/artifacts/"
    elif [[ -z "$units" ]]; then
        show_tail "$log"
        record "$stage" FAIL $((SECONDS - t0)) "no final stats printed"
    elif ((rate < fuzz_min_rate)); then
        record "$stage" FAIL $((SECONDS - t0)) "$rate exec/s, under $fuzz_min_rate ($units runs)"
    else
        record "$stage" PASS $((SECONDS - t0)) "$rate exec/s ($units runs)"
    fi
}

# The patched interpreter, flavour release: interp/smoke.sh release (builds pxpython with
# pxkit's libraries if the cache lacks this key: ~3-5 min on 2 cores, then cached in
# ~/.cache/pxkit), then with it: the hook tests (tests/python/hooks), the Python suites
# (conformance, guard, errors) in poison mode, the 2 x 100,000-call stress run, and CPython's
# own regression tests listed in tests/python/regrtest.txt on the main thread with
# `parallel` imported (its allocator dispatch installed).
stage_pxpython() {
    local stage=pxpython-release
    banner "$stage"
    if [[ ! -x interp/build.sh || ! -d tests/python/hooks ]]; then
        record "$stage" SKIP 0 "no interp/build.sh or tests/python/hooks/ yet"
        return
    fi
    local t0=$SECONDS log="$logs/$stage.log" py hooks suites regr
    if ! interp/smoke.sh release >"$log" 2>&1; then
        show_tail "$log"
        record "$stage" FAIL $((SECONDS - t0)) "interp/smoke.sh release failed"
        return
    fi
    py="$(interp/build.sh release 2>>"$log" | tail -n 1)"
    if ! "$py" -m unittest discover -s tests/python/hooks -v >>"$log" 2>&1; then
        show_tail "$log"
        record "$stage" FAIL $((SECONDS - t0)) "tests/python/hooks failed"
        return
    fi
    hooks="$(sed -n 's/^Ran \([0-9]*\) tests.*/\1/p' "$log" | tail -n 1)"
    if ! PXKIT_POISON=1 "$py" -X faulthandler tests/python/run.py >>"$log" 2>&1; then
        show_tail "$log"
        record "$stage" FAIL $((SECONDS - t0)) "tests/python suites failed (poison mode)"
        return
    fi
    suites="$(tail -n 1 "$log")"
    # Again with pymalloc's debug hooks: a main-heap block a context frees, or uses after a
    # section freed it, shows up as 0xDD bytes instead of passing by chance.
    if ! PYTHONMALLOC=pymalloc_debug "$py" -X faulthandler tests/python/run.py >>"$log" 2>&1; then
        show_tail "$log"
        record "$stage" FAIL $((SECONDS - t0)) "tests/python suites failed (pymalloc_debug)"
        return
    fi
    if ! PXKIT_POISON=1 "$py" tests/python/stress/stress_map.py >>"$log" 2>&1; then
        show_tail "$log"
        record "$stage" FAIL $((SECONDS - t0)) "stress run failed"
        return
    fi
    local modules
    mapfile -t modules < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' tests/python/regrtest.txt | grep -v '^$')
    if ! "$py" -c "import parallel, runpy; runpy.run_module('test', run_name='__main__', alter_sys=True)" \
        "${modules[@]}" >>"$log" 2>&1; then
        show_tail "$log"
        record "$stage" FAIL $((SECONDS - t0)) "CPython regression tests failed"
        return
    fi
    regr=${#modules[@]}
    record "$stage" PASS $((SECONDS - t0)) "smoke, $hooks hook tests, suites: $suites, stress, $regr regrtest modules"
}

# A sanitizer flavour of pxpython (asan: ASan+UBSan; tsan: ThreadSanitizer; both without
# pymalloc): the hook tests and the Python suites, each conformance item once per run
# (PX_CONFORMANCE_REPEAT=1) to keep the stage near 2 minutes once the interpreter is cached
# (building it takes ~6-10 min on 2 cores). Any sanitizer report fails the stage.
stage_pxpython_sanitizer() { # asan | tsan
    local flavour="$1" stage="pxpython-$1"
    banner "$stage"
    if [[ ! -x interp/build.sh || ! -d tests/python/hooks ]]; then
        record "$stage" SKIP 0 "no interp/build.sh or tests/python/hooks/ yet"
        return
    fi
    local t0=$SECONDS log="$logs/$stage.log" py
    if ! py="$(interp/build.sh "$flavour" 2>"$log" | tail -n 1)" || [[ ! -x "$py" ]]; then
        show_tail "$log"
        record "$stage" FAIL $((SECONDS - t0)) "interp/build.sh $flavour failed"
        return
    fi
    # CPython keeps its objects until exit by design, so leak reports would list all of them;
    # llvm-symbolizer (llvm-14) turns the reports' addresses into file:line. TSan keeps going
    # after a report so the log shows all of them.
    # Reports also go to files (log_path): the server tests' child processes keep their
    # stderr to themselves.
    local reports="$logs/$stage-reports"
    rm -rf "$reports" && mkdir -p "$reports"
    local env=(env "PATH=/usr/lib/llvm-14/bin:$PATH"
        "ASAN_OPTIONS=detect_leaks=0:log_path=$reports/asan"
        "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan"
        "TSAN_OPTIONS=halt_on_error=0:second_deadlock_stack=1:log_path=$reports/tsan:suppressions=$root/sanitizers/tsan.supp")
    # The wiki server end to end too (real clients against the sanitized server).
    if ! "${env[@]}" "$py" -m unittest discover -s tests/python/hooks >>"$log" 2>&1 ||
        ! "${env[@]}" PX_CONFORMANCE_REPEAT=1 "$py" tests/python/run.py >>"$log" 2>&1 ||
        ! "${env[@]}" PXPYTHON="$py" python3 -m unittest examples/wiki/test_server.py >>"$log" 2>&1; then
        # A child process that exits with the sanitizer's status (66 for TSan) fails its
        # test with an empty stderr: its report is in $reports, shown here.
        cat "$reports"/* 2>/dev/null | head -n 120 >>"$log"
        show_tail "$log" 160
        record "$stage" FAIL $((SECONDS - t0)) "hook tests, suites or wiki tests failed under $flavour"
        return
    fi
    if grep -q "ERROR: AddressSanitizer\|runtime error:\|WARNING: ThreadSanitizer" "$log" ||
        [[ -n "$(ls -A "$reports")" ]]; then
        cat "$reports"/* 2>/dev/null | head -n 60 >>"$log"
        show_tail "$log"
        record "$stage" FAIL $((SECONDS - t0)) "sanitizer reports (see $log, $reports)"
        return
    fi
    record "$stage" PASS $((SECONDS - t0)) "hooks + suites: $(tail -n 1 "$log"), 0 reports"
}

# The examples' own tests (plain python3: the wiki data generator and its index reader).
stage_examples() {
    local stage=examples t0=$SECONDS log="$logs/examples.log"
    banner "$stage"
    if [[ ! -d examples/wiki ]]; then
        record "$stage" SKIP 0 "no examples/wiki yet"
        return
    fi
    # The server tests run the wiki app on pxpython (cached by the pxpython-release stage).
    local py
    if ! py="$(interp/build.sh release 2>"$log" | tail -n 1)" || [[ ! -x "$py" ]]; then
        show_tail "$log"
        record "$stage" FAIL $((SECONDS - t0)) "interp/build.sh release failed"
        return
    fi
    if ! PXPYTHON="$py" python3 -m unittest discover -s examples/wiki >>"$log" 2>&1; then
        show_tail "$log"
        record "$stage" FAIL $((SECONDS - t0)) "examples/wiki tests failed"
        return
    fi
    record "$stage" PASS $((SECONDS - t0)) "examples/wiki: $(grep -o 'Ran [0-9]* tests' "$log")"
}

stage_fuzz_runs() {
    if [[ ! -f fuzz/targets.txt ]]; then
        banner fuzz-run
        echo "fuzz/targets.txt does not exist: no timed fuzz runs"
        record fuzz-run SKIP 0 "no fuzz/targets.txt"
        return
    fi
    local name
    while IFS= read -r name; do
        stage_fuzz_run "$name"
    done < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' fuzz/targets.txt | grep -v '^$')
}

# ---- run --------------------------------------------------------------------------------------
t_all=$SECONDS
stage_deps
stage_preset release
stage_lint
stage_preset asan
stage_preset tsan
stage_preset fuzz fuzz
stage_preset coverage
stage_coverage_gate
stage_fuzz_runs
stage_pxpython
stage_pxpython_sanitizer asan
stage_pxpython_sanitizer tsan
stage_examples

banner summary
passed=0 failed=0 skipped=0
printf '%-28s %-6s %7s  %s\n' stage result time detail
for i in "${!names[@]}"; do
    printf '%-28s %-6s %6ss  %s\n' "${names[i]}" "${results[i]}" "${times[i]}" "${details[i]}"
    case "${results[i]}" in
        PASS) passed=$((passed + 1)) ;;
        FAIL) failed=$((failed + 1)) ;;
        *) skipped=$((skipped + 1)) ;;
    esac
done
printf 'total time %ss; logs in %s\n' $((SECONDS - t_all)) "$logs"
echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0))
