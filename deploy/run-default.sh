#!/usr/bin/env bash
# Installs the dependencies, builds rdpgate (Release) and runs it on deploy/rdpgate.default.yaml:
# clients connect to 127.0.0.1:13389 and are relayed to the RDP host at 127.0.0.1:3389 once they
# pass the default policy (NLA required). Metrics: http://127.0.0.1:9489/metrics; admin API on
# 127.0.0.1:9488 with the bearer token in var/admin.token. Stop with Ctrl-C (a graceful drain).
#   deploy/run-default.sh [extra `rdpgate run` arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DRDPGATE_BUILD_TESTS=OFF \
  -DRDPGATE_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build-release -j"${RDPGATE_JOBS:-2}" --target rdpgate

mkdir -p var
if [ ! -s var/admin.token ]; then
  (umask 077 && openssl rand -hex 32 > var/admin.token)
fi
export RDPGATE_ADMIN_TOKEN="$(cat var/admin.token)"
if [ "$(id -u)" -eq 0 ]; then
  # rdpgate refuses to run as root unless told to; for a production install use the systemd
  # unit in deploy/systemd/, which runs it as an unprivileged dynamic user.
  echo "run-default: running as root for this local trial (RDPGATE_ALLOW_ROOT=1)" >&2
  export RDPGATE_ALLOW_ROOT=1
fi
exec build-release/gateway/rdpgate run --config deploy/rdpgate.default.yaml "$@"
