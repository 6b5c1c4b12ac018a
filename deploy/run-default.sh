#!/usr/bin/env bash
# Installs the dependencies, builds rdpgate (Release) and runs it on deploy/rdpgate.default.yaml:
# clients connect to 127.0.0.1:13389 and are relayed to the RDP host at 127.0.0.1:3389 once they
# pass the default policy (NLA required). Metrics: http://127.0.0.1:9489/metrics; admin API on
# 127.0.0.1:9488 with the bearer token in var/admin.token. Stop with Ctrl-C (a graceful drain).
#
# First run on a machine without an RDP host: when nothing answers at 127.0.0.1:3389, it also
# starts a demo host there — freerdp-shadow-cli with NLA and a generated demo user, shadowing a
# private Xvfb display — turns on the self-service portal (https://127.0.0.1:8443, self-signed
# certificate, a demo portal user) and prints the xfreerdp command that connects through
# rdpgate, and the portal's address with the demo user's password and TOTP secret. Ctrl-C stops
# everything it started. RDPGATE_DEMO=0 never starts the demo.
#   deploy/run-default.sh [extra `rdpgate run` arguments]
#   RDPGATE_BIN=path/to/rdpgate deploy/run-default.sh   (skip installing and building)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${RDPGATE_BIN:-}" ]; then
  bash deploy/install-deps.sh
  cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DRDPGATE_BUILD_TESTS=OFF \
    -DRDPGATE_BUILD_BENCHMARKS=OFF >/dev/null
  cmake --build build-release -j"${RDPGATE_JOBS:-2}" --target rdpgate
  RDPGATE_BIN=build-release/gateway/rdpgate
fi

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

answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

if [ "${RDPGATE_DEMO:-1}" = 0 ] || answers 127.0.0.1 3389; then
  exec "$RDPGATE_BIN" run --config deploy/rdpgate.default.yaml "$@"
fi

# --- the demo: nothing answers at the default backend address ---------------------------------
demo=var/demo
rm -rf "$demo" && mkdir -p "$demo/home" && chmod 700 "$demo"
pids=()
stop_all() {
  trap - INT TERM EXIT
  # Only what this script started, newest first, by pid.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# A private display for the demo host to show (and shadow); Xvfb writes its number to a FIFO.
mkfifo "$demo/display"
Xvfb -displayfd 3 -nolisten tcp -screen 0 1280x800x24 3>"$demo/display" >"$demo/xvfb.log" 2>&1 &
pids+=($!)
display=""
read -r -t 10 display <"$demo/display" || true
[ -n "$display" ] || { echo "run-default: Xvfb did not start ($demo/xvfb.log)" >&2; exit 1; }
export DISPLAY=":$display"

demo_user=demo
demo_password="$(openssl rand -base64 12 | tr -d '/+=')"
winpr-hash -u "$demo_user" -p "$demo_password" -f sam >"$demo/sam"
HOME="$PWD/$demo/home" freerdp-shadow-cli /bind-address:127.0.0.1 /port:3389 \
  "/sam-file:$PWD/$demo/sam" -auth /sec:nla >"$demo/shadow.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do answers 127.0.0.1 3389 && break; sleep 0.1; done
answers 127.0.0.1 3389 || { echo "run-default: the demo host did not start" >&2; exit 1; }

# The portal: a self-signed certificate and a demo user allowed the default route.
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost \
  -keyout "$demo/portal.key" -out "$demo/portal.crt" >/dev/null 2>&1
chmod 600 "$demo/portal.key"
otpauth="$(printf '%s\n' "$demo_password" | "$RDPGATE_BIN" user add --users-file "$demo/users" \
  "$demo_user" --routes default --password-stdin)"
secret="${otpauth#*secret=}"
secret="${secret%%&*}"
{
  cat deploy/rdpgate.default.yaml
  printf '\n# The first-run demo (deploy/run-default.sh): the self-service portal.\n'
  printf 'portal:\n  address: "127.0.0.1:8443"\n'
  printf '  tls: {cert_file: %s/portal.crt, key_file: %s/portal.key}\n' "$demo" "$demo"
  printf '  public_address: "127.0.0.1:13389"\n  users_file: %s/users\n' "$demo"
} >"$demo/rdpgate.yaml"

cat <<INFO

  rdpgate demo — nothing answered at 127.0.0.1:3389, so a demo RDP host runs there
  (freerdp-shadow-cli with NLA, showing the private display :$display).

  Connect through rdpgate:
    xfreerdp /v:127.0.0.1:13389 /u:$demo_user /p:'$demo_password' /cert:ignore

  Self-service portal:  https://127.0.0.1:8443   (self-signed certificate)
    user:        $demo_user
    password:    $demo_password
    TOTP secret: $secret   ($otpauth)
    (add it to an authenticator app, or: oathtool --totp -b $secret   from Debian's oathtool)

  Ctrl-C stops rdpgate and the demo host.

INFO
"$RDPGATE_BIN" run --config "$demo/rdpgate.yaml" "$@" &
pids+=($!)
wait "${pids[-1]}"
