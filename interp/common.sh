# shellcheck shell=bash disable=SC2034  # (variables here are used by the scripts sourcing it)
# interp/common.sh - helpers shared by fetch.sh, build.sh and smoke.sh. Sourced, never run.
#
# Everything the pipeline writes lives under one cache directory outside the repository:
#
#   $PX_CACHE/src/dist/              the tarballs (orig + Debian), as apt-get source left them
#   $PX_CACHE/src/trees/<tree-key>/  a prepared, patched source tree (read-only once stamped)
#   $PX_CACHE/build/<key>-<flavour>/ an out-of-tree build directory (disposable)
#   $PX_CACHE/python/<key>-<flavour>/ an installed interpreter (bin/python3, lib/, include/)
#   $PX_CACHE/logs/                  fetch and build logs, one file per run
#
# Keys are sha256 digests shortened to 16 hex digits; the full inputs are kept in each
# stamp file so a mismatch can be explained.

PX_INTERP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PX_CACHE="$(realpath -m "${PX_CACHE:-${HOME}/.cache/pxkit}")" # absolute: build.sh changes directory

# Bump when the way a tree or a build is produced changes in a way the inputs do not show.
PX_PIPELINE_VERSION=1

px_log() { printf '[pxkit/interp] %s\n' "$*" >&2; }
px_die() { printf '[pxkit/interp] error: %s\n' "$*" >&2; exit 1; }

px_sha256_file() { sha256sum "$1" | cut -d' ' -f1; }
px_sha256_stdin() { sha256sum | cut -d' ' -f1; }
px_short() { printf '%s' "${1:0:16}"; }

# Read KEY from interp/source.lock (lines "key = value"; '#' starts a comment).
px_lock_get() {
    local value
    value="$(sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\\([^#[:space:]]*\\).*/\\1/p" \
        "$PX_INTERP_DIR/source.lock")"
    [[ -n "$value" ]] || px_die "source.lock has no '$1'"
    printf '%s' "$value"
}

# pxkit's own patch series: interp/patches/NNNN-*.patch, in file-name order.
px_pxkit_patches() {
    local f
    for f in "$PX_INTERP_DIR"/patches/[0-9][0-9][0-9][0-9]-*.patch; do
        [[ -e "$f" ]] && printf '%s\n' "$f"
    done
    return 0
}

# sha256 of the concatenated pxkit patches (the empty string's digest when there are none).
px_pxkit_patches_hash() {
    local list
    list="$(px_pxkit_patches)"
    if [[ -z "$list" ]]; then
        printf '' | px_sha256_stdin
    else
        # shellcheck disable=SC2086  # one path per line; NNNN-*.patch names have no spaces
        cat $list | px_sha256_stdin
    fi
}

PX_REPO_DIR="$(cd "$PX_INTERP_DIR/.." && pwd)"

# sha256 over every source of pxkit's libraries that ends up inside pxpython (paths and
# contents), so a change to any of them gives a new build key. Inputs that do not exist yet
# (runtime/ before it is written) are left out, so they change no key until they appear.
px_pxkit_libs_hash() {
    (
        cd "$PX_REPO_DIR" || exit
        local inputs=() path
        for path in CMakeLists.txt cmake allocator guards interp/CMakeLists.txt interp/src \
            interp/include runtime/CMakeLists.txt runtime/src runtime/include; do
            [[ -e "$path" ]] && inputs+=("$path")
        done
        find "${inputs[@]}" -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.cmake' \
            -o -name CMakeLists.txt \) -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    ) | px_sha256_stdin
}

# Run "$@" while holding an exclusive lock on $1 (a lock-file path), so two fetches or two
# builds of the same thing never race on the cache.
px_with_lock() {
    local lockfile="$1"
    shift
    mkdir -p "$(dirname "$lockfile")"
    exec {px_lock_fd}>"$lockfile"
    flock "$px_lock_fd"
    "$@"
    local rc=$?
    flock -u "$px_lock_fd"
    exec {px_lock_fd}>&-
    return "$rc"
}

# Install the Debian packages named in "$@" that dpkg does not report as installed.
px_apt_install_missing() {
    local missing=() pkg
    for pkg in "$@"; do
        if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]]; then
            missing+=("$pkg")
        fi
    done
    ((${#missing[@]} == 0)) && return 0
    px_log "installing missing packages: ${missing[*]}"
    [[ $(id -u) -eq 0 ]] || px_die "need root to apt-get install ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}" >&2; then
        apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            "${missing[@]}" >&2
    fi
}

# Set PX_CC, PX_CXX, PX_CONFIGURE_ARGS (array), PX_BUILD_DEPS (array) and PX_WITH_PXKIT
# (1: pxkit's patches and libraries; 0: neither) for a flavour.
# Every flavour: static libpython (no --enable-shared), Debian's patched libexpat instead of
# the copy bundled in the tarball, no ensurepip (no pip to fetch here, and no PyPI anyway).
# baseline is release without pxkit: the same compilers, flags and Debian tree, no pxkit
# patch, no `parallel` module; what pxpython's main-thread cost is measured against.
px_flavour_settings() {
    local common=(--with-system-expat --without-ensurepip)
    # Flavours with pxkit also build its libraries with CMake: Ninja, and Boost.Asio for the
    # server in px_runtime/px_interp.
    local pxkit_deps=(cmake ninja-build libboost1.74-dev)
    PX_BUILD_DEPS=("${pxkit_deps[@]}") PX_WITH_PXKIT=1
    case "$1" in
        release)
            PX_CC=gcc PX_CXX=g++
            PX_CONFIGURE_ARGS=("${common[@]}") ;;
        baseline)
            px_flavour_settings release
            PX_BUILD_DEPS=() PX_WITH_PXKIT=0 ;;
        debug)
            PX_CC=gcc PX_CXX=g++
            PX_CONFIGURE_ARGS=("${common[@]}" --with-pydebug) ;;
        asan)
            PX_CC=clang-14 PX_CXX=clang++-14 PX_BUILD_DEPS+=(clang-14 libclang-rt-14-dev llvm-14)
            PX_CONFIGURE_ARGS=("${common[@]}" --with-address-sanitizer
                --with-undefined-behavior-sanitizer --without-pymalloc) ;;
        tsan)
            PX_CC=clang-14 PX_CXX=clang++-14 PX_BUILD_DEPS+=(clang-14 libclang-rt-14-dev llvm-14)
            PX_CONFIGURE_ARGS=("${common[@]}" --without-pymalloc
                CFLAGS=-fsanitize=thread LDFLAGS=-fsanitize=thread) ;;
        *) px_die "unknown flavour '$1' (release, baseline, debug, asan, tsan)" ;;
    esac
}

# Export the sanitizer runtime options for running a flavour's python during its own build
# ("build") or afterwards ("run"). Options already set by the caller win in "run" mode.
px_sanitizer_env() {
    local flavour="$1" mode="$2"
    case "$flavour" in asan | tsan) ;; *) return 0 ;; esac
    [[ -d /usr/lib/llvm-14/bin ]] && export PATH="/usr/lib/llvm-14/bin:$PATH" # llvm-symbolizer
    if [[ "$mode" == build ]]; then
        # CPython leaks by design at exit (static types, interned strings); a leak report
        # would fail every build step that runs the new python. Races are not the build's
        # business either: TSan still prints them, but exits 0.
        export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 TSAN_OPTIONS=exitcode=0
    else
        export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
        export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
        export TSAN_OPTIONS="${TSAN_OPTIONS:-second_deadlock_stack=1}"
    fi
}
