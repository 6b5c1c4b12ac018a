#!/usr/bin/env bash
# Installs the dependencies, builds rdpgate and runs every test: the unit, integration and
# end-to-end tests (GCC, warnings as errors), clang-format and clang-tidy (tests/lint.sh), the
# same tests under ASan+UBSan, the multi-threaded ones under ThreadSanitizer, and a short
# libFuzzer run of every parser (clang). Usage: tests/run-all.sh   (from anywhere)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${RDPGATE_JOBS:-2}
fuzz_seconds=${RDPGATE_FUZZ_SECONDS:-15}

bash deploy/install-deps.sh

echo "== build (gcc, -Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRDPGATE_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
echo "== tests"
(cd build && ctest --output-on-failure -j"$jobs" --timeout 600)
echo "== lint (clang-format, clang-tidy)"
bash tests/lint.sh build

echo "== build (ASan+UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRDPGATE_SANITIZE=ON -DRDPGATE_WERROR=ON \
  -DRDPGATE_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build-asan -j"$jobs"
echo "== tests under ASan+UBSan (unit and integration)"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j"$jobs" --timeout 900 -LE 'e2e|bench|ops')

echo "== build (ThreadSanitizer: the multi-threaded parts)"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DRDPGATE_TSAN=ON -DRDPGATE_WERROR=ON \
  -DRDPGATE_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build-tsan -j"$jobs" --target gateway_tests refusal_path_tests integration_tests \
  security_tests state_tests admin_tests
echo "== tests under ThreadSanitizer (gateway, integration, security, state, admin)"
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --output-on-failure -j"$jobs" --timeout 900 -L 'gateway|integration|security|state|admin')

echo "== fuzzers (${fuzz_seconds}s each)"
bash tests/fuzz/run-fuzzers.sh "$fuzz_seconds"
echo "== all tests passed"
