#!/usr/bin/env bash
# interp/smoke.sh FLAVOUR - quick checks that a built interpreter works; non-zero on failure.
#
# Builds the flavour first if it is not in the cache (build.sh skips a built one). Checks:
# the stdlib's C modules import, the build is the flavour it claims, and a few regression
# test modules pass (test_list test_dict test_json, -j2). PX_SMOKE_TESTS overrides that list.
set -euo pipefail
# shellcheck source=interp/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

FLAVOUR="${1:-}"
[[ -n "$FLAVOUR" ]] || px_die "usage: interp/smoke.sh release|debug|asan|tsan"
px_flavour_settings "$FLAVOUR"
PY="$("$PX_INTERP_DIR/build.sh" "$FLAVOUR" | tail -n1)"
[[ -x "$PY" ]] || px_die "build.sh gave no interpreter"
px_sanitizer_env "$FLAVOUR" run

read -r -a TESTS <<<"${PX_SMOKE_TESTS:-test_list test_dict test_json}"
passed=0 failed=0

check() { # name command...
    local name="$1" t0=$SECONDS
    shift
    if "$@"; then
        passed=$((passed + 1))
        px_log "ok   $name ($((SECONDS - t0)) s)"
    else
        failed=$((failed + 1))
        px_log "FAIL $name ($((SECONDS - t0)) s)"
    fi
}

check "imports" "$PY" -c 'import sys, ssl, sqlite3, json, re, ctypes, zlib; print(sys.version)'
check "more C modules" "$PY" -c 'import bz2, lzma, readline, curses, hashlib, ssl, pyexpat
assert hashlib.sha256(b"px").hexdigest()
print(ssl.OPENSSL_VERSION, "/", pyexpat.EXPAT_VERSION)'

# The interpreter must be the flavour it is filed under.
case "$FLAVOUR" in
    release) expect='not hasattr(sys, "gettotalrefcount") and "--with-pydebug" not in cfg' ;;
    debug) expect='hasattr(sys, "gettotalrefcount")' ;;
    asan) expect='"--with-address-sanitizer" in cfg and "-fsanitize=undefined" in cflags' ;;
    tsan) expect='"-fsanitize=thread" in cflags' ;;
esac
check "flavour is $FLAVOUR" "$PY" -c "
import sys, sysconfig
cfg = sysconfig.get_config_var('CONFIG_ARGS') or ''
cflags = sysconfig.get_config_var('PY_CFLAGS') or ''
assert $expect, (cfg, cflags)
assert sysconfig.get_config_var('Py_ENABLE_SHARED') == 0, 'expected a static libpython'"

# Patch 0001 adds Include/pxkit.h; make install ships it.
# (include/python3.11d/ for debug: sysconfig knows the ABI-flagged name.)
check "pxkit hook-ABI header installed" \
    test -f "$("$PY" -c 'import sysconfig; print(sysconfig.get_path("include"))')/pxkit.h"

check "threads" "$PY" -c '
import threading
out = []
ts = [threading.Thread(target=lambda i=i: out.append(sum(range(i * 1000)))) for i in range(4)]
for t in ts: t.start()
for t in ts: t.join()
assert len(out) == 4'

# A sanitizer flavour must catch a bug planted through ctypes (libc calls it intercepts): a
# heap overflow for ASan, two threads memset()ing one buffer with the GIL released for TSan.
planted_bug_is_reported() { # expected-report python-code
    local out
    out="$("$PY" -c "$2" 2>&1)" && return 1 # the run must fail...
    grep -qF "$1" <<<"$out"                   # ...and say why
}
case "$FLAVOUR" in
    asan) check "ASan reports a planted overflow" planted_bug_is_reported \
        "AddressSanitizer: heap-buffer-overflow" '
import ctypes
buf = ctypes.create_string_buffer(8)
ctypes.memmove(buf, b"x" * 64, 64)' ;;
    tsan) check "TSan reports a planted race" planted_bug_is_reported \
        "ThreadSanitizer: data race" '
import ctypes, threading
buf = ctypes.create_string_buffer(1 << 16)
def fill(byte):
    for _ in range(100):
        ctypes.memset(buf, byte, len(buf))
threads = [threading.Thread(target=fill, args=(b,)) for b in (1, 2)]
for t in threads: t.start()
for t in threads: t.join()' ;;
esac

check "regrtest ${TESTS[*]}" "$PY" -m test -j2 "${TESTS[@]}"

printf '%s passed, %s failed\n' "$passed" "$failed"
((failed == 0))
