#!/usr/bin/env bash
# Installs everything rdpgate needs to build, run and test on Debian 12 (bookworm).
# Usage: deploy/install-deps.sh          (as root, or with sudo available)
set -euo pipefail

packages=(
  # toolchain
  build-essential g++ cmake ccache pkg-config git
  # libraries
  libboost1.81-dev libssl-dev libyaml-cpp-dev prometheus-cpp-dev libspdlog-dev libsqlite3-dev
  libjemalloc-dev libhiredis-dev
  # tests, benchmarks, fuzzing
  libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev clang-format clang-tidy
  python3 python3-yaml openssl iproute2 procps util-linux strace e2fsprogs
  # real peers for the end-to-end tests, and the tools that check what rdpgate ships
  xrdp freerdp2-x11 freerdp2-shadow-x11 winpr-utils xvfb xauth x11-utils
  haproxy prometheus systemd logrotate redis-server redis-tools
  # the self-service portal: Argon2id (libsodium); its browser test (chromium, Selenium)
  libsodium-dev chromium chromium-driver python3-selenium
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
# Debian's xrdp and prometheus packages start services on install; rdpgate's tests start their
# own private instances, so keep the packaged daemons from starting where policy-rc.d allows it.
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
