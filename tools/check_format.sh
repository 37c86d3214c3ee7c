#!/usr/bin/env bash
# Fails when a C++ file of the tree is not as clang-format (.clang-format: Google style, 100
# columns) would write it, and names each such file. `tools/check_format.sh --fix` rewrites them.
# Files under third_party/ are stand-ins and keep their own shape.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null 2>&1; then
  echo "check_format: clang-format is missing (tools/install_deps.sh installs it)" >&2
  exit 1
fi
mapfile -t files < <(git ls-files -- '*.cc' '*.h' ':!third_party/**')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  echo "check_format: formatted ${#files[@]} files"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "check_format: ${#bad[@]} of ${#files[@]} files are not clang-format clean:"
  printf '  %s\n' "${bad[@]}"
  echo "check_format: run tools/check_format.sh --fix"
  exit 1
fi
echo "check_format: ${#files[@]} files clang-format clean"
