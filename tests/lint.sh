#!/usr/bin/env bash
# Static checks of the product code (gateway/, protocol/, config/): clang-format (.clang-format)
# and clang-tidy (.clang-tidy, every finding an error). Needs a configured build directory for
# clang-tidy's compile database. Usage: tests/lint.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
jobs=${RDPGATE_JOBS:-2}

mapfile -t sources < <(git ls-files 'gateway/*.cpp' 'gateway/*.hpp' 'protocol/*.cpp' \
  'protocol/*.hpp' 'config/*.cpp' 'config/*.hpp')
echo "lint: clang-format on ${#sources[@]} files"
clang-format --dry-run --Werror "${sources[@]}"

if [ ! -f "$build/compile_commands.json" ]; then
  echo "lint: $build/compile_commands.json missing: configure the build first" >&2
  exit 1
fi
echo "lint: clang-tidy"
# GCC-only warning flags in the database are unknown to clang: not a finding.
run-clang-tidy -p "$build" -j "$jobs" -quiet -extra-arg=-Wno-unknown-warning-option \
  '(gateway/(src|admin/src|portal/src|security/src|state/src)|protocol/src|config/src)/.*\.cpp$' \
  > "$build/clang-tidy.log" 2>&1 || {
  grep -E '(warning|error):' "$build/clang-tidy.log" | sed 's/\x1b\[[0-9;]*m//g' | sort -u >&2
  echo "lint: clang-tidy found problems (full output: $build/clang-tidy.log)" >&2
  exit 1
}
echo "lint: clean"
