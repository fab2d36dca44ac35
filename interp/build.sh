#!/usr/bin/env bash
# interp/build.sh FLAVOUR - build and install the patched CPython for one flavour.
#
#   FLAVOUR   release | baseline | debug | asan | tsan   (interp/README.md says what each one is)
#
# baseline is release built from the tree without pxkit's patches and without pxkit's
# libraries (no `parallel` module), so its key depends on neither and it is built once.
#
# Gets the prepared source tree from fetch.sh, configures out of tree in
# $PX_CACHE/build/<key>-<flavour>/, installs into $PX_CACHE/python/<key>-<flavour>/ and prints
# that install's bin/python3 as the last line of output. If the install exists and its stamp
# matches, nothing is built. Environment: PX_CACHE, PX_JOBS (default: nproc), PX_KEEP_BUILD=1
# to keep the build directory after a successful install.
set -euo pipefail
# shellcheck source=interp/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

FLAVOUR="${1:-}"
[[ -n "$FLAVOUR" ]] || px_die "usage: interp/build.sh release|baseline|debug|asan|tsan"
px_flavour_settings "$FLAVOUR" # sets PX_CC, PX_CXX, PX_CONFIGURE_ARGS, PX_BUILD_DEPS, PX_WITH_PXKIT

# Debian packages the build needs: the toolchain plus the -dev packages of the C libraries
# behind _ssl/_hashlib, _sqlite3, zlib, _bz2, _lzma, _ctypes, readline, _curses and pyexpat.
# tk-dev, libgdbm-dev and uuid-dev are optional (_tkinter, _gdbm, _uuid) and not installed.
REQUIRED_DEPS=(build-essential pkg-config libssl-dev libsqlite3-dev zlib1g-dev libbz2-dev
    liblzma-dev libffi-dev libreadline-dev libncurses-dev libexpat1-dev "${PX_BUILD_DEPS[@]}")

# Modules that must exist after the build, or the install is not stamped.
REQUIRED_MODULES=(_ssl _hashlib _sqlite3 zlib _bz2 _lzma _ctypes readline _curses pyexpat)

px_apt_install_missing "${REQUIRED_DEPS[@]}"

TREE="$(PX_PXKIT_PATCHES="$PX_WITH_PXKIT" "$PX_INTERP_DIR/fetch.sh" | tail -n1)"
[[ -f "$TREE/.pxkit-source-stamp" ]] || px_die "fetch.sh gave no prepared tree"

COMPILER_ID="$("$PX_CC" --version | head -n1)"
LIBS_HASH=none
[[ "$PX_WITH_PXKIT" == 0 ]] || LIBS_HASH="$(px_pxkit_libs_hash)"
STAMP="$(printf '%s\nbuild-pipeline %s\nflavour %s\ncc %s\ncxx %s\ncompiler %s\nconfigure %s\npxkit-libs %s\n' \
    "$(cat "$TREE/.pxkit-source-stamp")" "$PX_PIPELINE_VERSION" "$FLAVOUR" "$PX_CC" "$PX_CXX" \
    "$COMPILER_ID" "${PX_CONFIGURE_ARGS[*]}" "$LIBS_HASH")"
KEY="$(px_short "$(printf '%s' "$STAMP" | px_sha256_stdin)")"
NAME="$KEY-$FLAVOUR"
PREFIX="$PX_CACHE/python/$NAME"
BUILD="$PX_CACHE/build/$NAME"
STAMP_FILE="$PREFIX/.pxkit-build-stamp"
JOBS="${PX_JOBS:-$(nproc)}"

# Print the "missing modules" blocks of a CPython build log (setup.py's report), each
# distinct block once (setup.py runs, and reports, again during make install).
missing_modules_report() {
    awk '
        /necessary bits to build these optional modules were not found/ ||
        /Failed to build these modules/ ||
        /built successfully but were removed because they could not be imported/ ||
        /have not been built, they are \*disabled\* by configure/ { on = 1; block = "" }
        on { block = block $0 "\n" }
        on && /^[[:space:]]*$/ { on = 0; if (!(block in seen)) { seen[block] = 1; printf "%s", block } }
        END { if (on && !(block in seen)) printf "%s", block }' "$1"
}

timed() { # label command...: run the command, append "label seconds" to $BUILD/timings
    local label="$1" t0=$SECONDS
    shift
    "$@" || return
    printf '%-10s %5d s\n' "$label" $((SECONDS - t0)) >>"$BUILD/timings"
}

# pxkit's static libraries, compiled against the configured tree (pyconfig.h in $BUILD, the
# patched Include/ in $TREE) with the flavour's compilers and sanitizer, then declared in
# Modules/Setup.local as the objects of the built-in module `parallel`. makesetup puts the
# archives in MODLIBS, which every link of the interpreter lists after LINK_PYTHON_OBJS, so
# they resolve PyInit_parallel and the hooks the patched objects call. px_runtime joins once
# runtime/CMakeLists.txt defines it; the archives are listed users first (px_interp calls
# px_runtime, both call px_guards and px_allocator), as a static link needs.
build_pxkit_libs() {
    local libs="$BUILD/pxkit-libs" type=RelWithDebInfo sanitize=none extra=()
    case "$FLAVOUR" in
        debug) type=Debug ;;
        asan) sanitize=asan
            # CPython links with the C driver, which brings UBSan's C runtime only; the C++
            # checks (vptr) of the libraries need its C++ runtime too.
            extra=("$("$PX_CC" -print-runtime-dir)/libclang_rt.ubsan_standalone_cxx-$(uname -m).a")
            [[ -f "${extra[0]}" ]] || { px_log "missing ${extra[0]}"; return 1; } ;;
        tsan) sanitize=tsan ;;
    esac
    cmake -S "$PX_REPO_DIR" -B "$libs" -G Ninja -DCMAKE_BUILD_TYPE="$type" \
        -DCMAKE_C_COMPILER="$PX_CC" -DCMAKE_CXX_COMPILER="$PX_CXX" -DPX_SANITIZE="$sanitize" \
        -DPX_BUILD_TESTS=OFF -DPX_BUILD_BENCH=OFF -DPX_BUILD_EXAMPLES=OFF \
        -DPX_PYTHON_BUILD_DIR="$BUILD" -DPX_PYTHON_SOURCE_DIR="$TREE" || return
    local targets=(px_interp) paths=(interp/libpx_interp.a)
    if [[ -f "$PX_REPO_DIR/runtime/CMakeLists.txt" ]] &&
        grep -Eq 'add_library[[:space:]]*\([[:space:]]*px_runtime([[:space:]]|\)|$)' \
            "$PX_REPO_DIR/runtime/CMakeLists.txt"; then
        targets+=(px_runtime) paths+=(runtime/libpx_runtime.a)
    fi
    targets+=(px_guards px_allocator) paths+=(guards/libpx_guards.a allocator/libpx_allocator.a)
    cmake --build "$libs" -j"$JOBS" --target "${targets[@]}" || return
    local a archives=()
    for a in "${paths[@]}"; do
        [[ -f "$libs/$a" ]] || { px_log "missing $libs/$a"; return 1; }
        archives+=("$libs/$a")
    done
    archives+=("${extra[@]}")
    mkdir -p Modules
    printf '# pxkit: written by interp/build.sh\n*static*\nparallel %s -lstdc++\n' \
        "${archives[*]}" >Modules/Setup.local
}

# configure + make + make install, output to the log. Explicit "|| return": errexit does
# not act inside a function called from an "if".
configure_make_install() {
    cd "$BUILD" || return
    exec >>"$1" 2>&1
    timed configure "$TREE/configure" CC="$PX_CC" CXX="$PX_CXX" --prefix="$PREFIX" \
        "${PX_CONFIGURE_ARGS[@]}" || return
    if [[ "$PX_WITH_PXKIT" == 1 ]]; then
        timed pxkit-libs build_pxkit_libs || return
    fi
    timed make make -j"$JOBS" || return
    timed install make -j"$JOBS" install
}

build_and_install() {
    if [[ -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$STAMP" ]]; then
        px_log "$NAME is built already ($PREFIX)"
        return 0
    fi
    rm -rf "$BUILD" "$PREFIX"
    mkdir -p "$BUILD" "$PX_CACHE/logs"
    local log
    log="$PX_CACHE/logs/build-$NAME-$(date +%Y%m%dT%H%M%S).log"
    px_log "building $NAME from $TREE (make -j$JOBS), log: $log"
    px_sanitizer_env "$FLAVOUR" build
    local t0=$SECONDS
    if ! (configure_make_install "$log"); then
        tail -n 40 "$log" >&2
        px_die "build of $NAME failed; full log: $log"
    fi
    local seconds=$((SECONDS - t0))

    local report
    report="$(missing_modules_report "$log")"
    px_log "missing modules reported by the build:"
    printf '%s\n' "${report:-  (none)}" | sed 's/^/    /' >&2

    local imports
    imports="$(IFS=,; echo "${REQUIRED_MODULES[*]}")"
    px_sanitizer_env "$FLAVOUR" run
    "$PREFIX/bin/python3" -c "import $imports" \
        || px_die "$NAME lacks a required module (one of: ${REQUIRED_MODULES[*]}); log: $log"

    mkdir -p "$PREFIX/share/pxkit"
    cp "$log" "$PREFIX/share/pxkit/build.log"
    cp "$BUILD/config.log" "$PREFIX/share/pxkit/config.log"
    cp "$TREE/.pxkit-patches" "$PREFIX/share/pxkit/patches.txt"
    printf '%s\n' "${report:-none}" >"$PREFIX/share/pxkit/missing-modules.txt"
    { cat "$BUILD/timings"; printf '%-10s %5d s\n' total "$seconds"; } \
        >"$PREFIX/share/pxkit/timings.txt"
    px_log "built $NAME in ${seconds}s: $(tr '\n' ' ' <"$PREFIX/share/pxkit/timings.txt")"
    [[ "${PX_KEEP_BUILD:-0}" == 1 ]] || rm -rf "$BUILD"
    printf '%s' "$STAMP" >"$STAMP_FILE"
}

# The Python half of the `parallel` package (interp/python/parallel: parallel.http), copied
# on every call rather than keyed: it needs no compiling, and a cached build must serve the
# sources of the checkout that asks for it.
install_python_package() {
    local dest="$PREFIX/lib/python3.11/parallel"
    rm -rf "$dest.new"
    mkdir -p "$dest.new"
    cp "$PX_INTERP_DIR"/python/parallel/*.py "$dest.new"/
    rm -rf "$dest"
    mv "$dest.new" "$dest"
}

px_with_lock "$PX_CACHE/python/.lock-$NAME" build_and_install
[[ "$PX_WITH_PXKIT" == 0 ]] || px_with_lock "$PX_CACHE/python/.lock-$NAME" install_python_package
printf '%s\n' "$PREFIX/bin/python3"
