#!/usr/bin/env bash
# Install the Debian 12 packages pxkit builds, tests and lints with. Idempotent and fast when
# everything is present: one dpkg-query, and apt-get runs (update once, then install) only
# for what is missing.
set -euo pipefail

packages=(
    cmake ninja-build g++-12          # build
    clang-14 libclang-rt-14-dev llvm-14   # sanitizer and libFuzzer runtimes, llvm-cov
    clang-format-14 clang-tidy-14 shellcheck  # scripts/lint.sh
    gcovr                              # coverage/run.sh
    libgtest-dev libgmock-dev libbenchmark-dev
    pkg-config libpython3-dev          # bench/ compares against CPython's PyObject_Malloc
    libboost1.74-dev                   # Boost.Asio for the server
    python3 valgrind
)

missing=()
for pkg in "${packages[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)"
    if [[ "$status" != "ii "* ]]; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "deps: all ${#packages[@]} packages present"
    exit 0
fi

echo "deps: installing ${missing[*]}"
sudo_cmd=()
if ((EUID != 0)); then
    sudo_cmd=(sudo)
fi
# Wait for another apt/dpkg run (unattended upgrades, a parallel session) instead of failing.
apt_opts=(-o DPkg::Lock::Timeout=600 -y -q)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get "${apt_opts[@]}" update
"${sudo_cmd[@]}" apt-get "${apt_opts[@]}" install --no-install-recommends "${missing[@]}"
echo "deps: done"
