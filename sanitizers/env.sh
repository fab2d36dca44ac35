#!/usr/bin/env bash
# Sanitizer runtime options for running pxkit binaries by hand or from scripts:
#     . sanitizers/env.sh && build/asan/tests/some_test
# The ctest presets in CMakePresets.json set the same strings ("test-base"); scripts/lint.sh
# checks that the two agree.
_px_san_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:suppressions=${_px_san_dir}/asan.supp"
export LSAN_OPTIONS="suppressions=${_px_san_dir}/lsan.supp"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:suppressions=${_px_san_dir}/ubsan.supp"
export TSAN_OPTIONS="halt_on_error=1:abort_on_error=1:second_deadlock_stack=1:suppressions=${_px_san_dir}/tsan.supp"

unset _px_san_dir
