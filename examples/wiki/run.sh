#!/usr/bin/env bash
# examples/wiki/run.sh [--port N] [--workers N] [--data DIR] - the wiki demo in one command.
#
# Builds pxpython (interp/build.sh release; nothing to do when its cache is current), generates
# the data with make_data.py if DIR has none yet (about 40 s, once), then serves
# examples/wiki/server.py on 127.0.0.1 in the foreground and prints URLs to try. Ctrl-C or
# SIGTERM stops the server gracefully; the script then exits with the server's status.
#
#   --port N      port to listen on (default 8080; 0 picks a free one)
#   --workers N   worker threads (default 2)
#   --data DIR    data directory (default $PXKIT_WIKI_DATA, else examples/wiki/data)
#
# PXPYTHON=/path/to/pxpython skips the build and uses that interpreter.
# Exit status: 0 after a graceful stop, 1 when the build, the data or the server failed,
# 2 for a bad option.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

die() {
    echo "run.sh: error: $*" >&2
    exit 1
}
usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit 0
}
bad_option() {
    echo "run.sh: $*" >&2
    echo "usage: examples/wiki/run.sh [--port N] [--workers N] [--data DIR] (--help for more)" >&2
    exit 2
}

PORT=8080
WORKERS=2
DATA="${PXKIT_WIKI_DATA:-$HERE/data}"
while [[ $# -gt 0 ]]; do
    case "$1" in
    --port | --workers | --data)
        [[ $# -ge 2 ]] || bad_option "$1 needs a value"
        case "$1" in
        --port) PORT="$2" ;;
        --workers) WORKERS="$2" ;;
        --data) DATA="$2" ;;
        esac
        shift 2
        ;;
    --port=*) PORT="${1#*=}" && shift ;;
    --workers=*) WORKERS="${1#*=}" && shift ;;
    --data=*) DATA="${1#*=}" && shift ;;
    -h | --help) usage ;;
    *) bad_option "unknown argument: $1" ;;
    esac
done
if ! [[ "$PORT" =~ ^[0-9]{1,5}$ ]] || ((10#$PORT > 65535)); then
    bad_option "--port must be 0 to 65535, not '$PORT'"
fi
if ! [[ "$WORKERS" =~ ^[0-9]{1,4}$ ]] || ((10#$WORKERS < 1)); then
    bad_option "--workers must be at least 1, not '$WORKERS'"
fi
[[ -n "$DATA" ]] || bad_option "--data needs a directory"

# 1. pxpython
if [[ -n "${PXPYTHON:-}" ]]; then
    PY="$PXPYTHON"
    echo "run.sh: using PXPYTHON=$PY (no build)" >&2
else
    echo "run.sh: building pxpython with interp/build.sh release (cached after the first time)" >&2
    BUILD_LOG="$(mktemp -t pxkit-wiki-build.XXXXXX)"
    if ! "$ROOT/interp/build.sh" release 2>&1 | tee "$BUILD_LOG" >&2; then
        die "interp/build.sh release failed; its output is in $BUILD_LOG"
    fi
    PY="$(tail -n1 "$BUILD_LOG")"
    rm -f "$BUILD_LOG"
fi
[[ -x "$PY" ]] || die "no pxpython at '$PY'"
"$PY" -c 'import parallel.http' 2>/dev/null || die "$PY has no parallel.http: is it pxpython?"

# 2. data (make_data.py writes stamp.json last, so a run that died half way has none)
missing=()
for name in enwiki.xml titles.txt offsets.bin lengths.bin stamp.json; do
    [[ -f "$DATA/$name" ]] || missing+=("$name")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    command -v python3 >/dev/null || die "python3 (Debian's) is needed to generate the data"
    echo "run.sh: no complete data in $DATA (missing ${missing[*]}); generating it (about 40 s)" >&2
    python3 "$HERE/make_data.py" "$DATA" || die "make_data.py failed"
fi

# 3. serve: exec, so Ctrl-C and SIGTERM go straight to the server and its status is ours
export PXKIT_WIKI_DATA="$DATA"
exec "$PY" "$HERE/server.py" --host 127.0.0.1 --port "$PORT" --workers "$WORKERS"
