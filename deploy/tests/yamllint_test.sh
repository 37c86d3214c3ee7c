#!/bin/bash
# Lints every YAML file of deploy/ with deploy/.yamllint, and checks the linter rejects a
# badly indented file (so a silently skipped directory cannot pass).
set -euo pipefail
command -v yamllint >/dev/null || { echo "FAIL: yamllint missing (apt-get install yamllint)"; exit 1; }

yamllint --strict -c deploy/.yamllint deploy/
count="$(yamllint --list-files -c deploy/.yamllint deploy/ | wc -l)"
if (( count < 12 )); then
  echo "FAIL: yamllint saw only ${count} files under deploy/"
  exit 1
fi

bad="${TEST_TMPDIR}/bad.yaml"
printf 'a:\n   b: 1\n' > "${bad}"
if yamllint --strict -c deploy/.yamllint "${bad}" >/dev/null; then
  echo "FAIL: yamllint accepted a 3-space indent"
  exit 1
fi
echo "yamllint: ${count} files clean"
