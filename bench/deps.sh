#!/usr/bin/env bash
# bench/deps.sh - install the Debian 12 packages bench/http_servers.py measures with: the load
# generator and the peer servers pxkit's HTTP server is compared against. Idempotent: when every
# package is present it only asks dpkg and exits. The Python peers are Debian's packages, so they
# run on Debian's /usr/bin/python3.11, not on a python3 found first on PATH.
#
#   bench/deps.sh            the packages of the default comparison
#   bench/deps.sh --uvicorn  also uvicorn with uvloop and httptools (http_servers.py --uvicorn)
set -euo pipefail
# shellcheck source=interp/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../interp/common.sh" # px_apt_install_missing

packages=(
    wrk                     # the load generator (4.1.0)
    nginx-light             # the ceiling: nginx 1.22 answering `return 200`
    python3                 # /usr/bin/python3.11, the interpreter of every Python peer
    gunicorn                # the pre-fork server (/usr/bin/gunicorn, 20.1)
    python3-aiohttp         # single-process asyncio server (3.8)
    python3-tornado         # single-process server (6.2)
)
if [[ "${1:-}" == --uvicorn ]]; then
    packages+=(python3-uvicorn python3-uvloop python3-httptools)
fi

px_apt_install_missing "${packages[@]}"
echo "bench/deps.sh: ${#packages[@]} packages present: ${packages[*]}"
