#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz/ and runs each for SECONDS_PER_TARGET
# seconds (default 20), seeded from tests/fuzz/corpus/<target>/. Exits non-zero on the first
# crash, leak, timeout or sanitizer report; the crashing input is left in
# build-fuzz/artifacts/<target>/ — copy it to tests/fuzz/regressions/ and fix the parser.
#
#   tests/fuzz/run-fuzzers.sh [SECONDS_PER_TARGET]
#   FUZZ_TARGETS="pcb tls" tests/fuzz/run-fuzzers.sh 60     # a subset
set -euo pipefail

seconds="${1:-20}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${root}/build-fuzz"
targets="${FUZZ_TARGETS:-classify pcb connection_request connection_confirm tls proxy_protocol \
inspect forward nla_judge}"
jobs="${FUZZ_BUILD_JOBS:-2}"

cmake -S "${root}" -B "${build}" -DCMAKE_CXX_COMPILER=clang++ -DRDPGATE_FUZZ=ON \
  -DRDPGATE_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "${build}" -j "${jobs}" --target $(for t in ${targets}; do printf '%s_fuzz ' "$t"; done)

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

status=0
for t in ${targets}; do
  work="${build}/corpus/${t}"
  artifacts="${build}/artifacts/${t}"
  mkdir -p "${work}" "${artifacts}"
  echo "== ${t}: ${seconds}s"
  # New inputs go to the scratch corpus (first directory); the committed seeds are read only.
  if ! "${build}/tests/fuzz/${t}_fuzz" "${work}" "${root}/tests/fuzz/corpus/${t}" \
      -max_total_time="${seconds}" -timeout=10 -rss_limit_mb=2048 -max_len=17000 \
      -print_final_stats=1 \
      -artifact_prefix="${artifacts}/" 2>"${build}/${t}.log"; then
    echo "!! ${t} failed; see ${build}/${t}.log and ${artifacts}/" >&2
    tail -n 40 "${build}/${t}.log" >&2
    status=1
    break
  fi
  grep -E "stat::number_of_executed_units|cov: " "${build}/${t}.log" | tail -n 2
done
exit "${status}"
