#!/bin/bash
# Lints the deploy tests themselves, and the scripts deploy/ ships, with shellcheck.
set -euo pipefail
command -v shellcheck >/dev/null || { echo "FAIL: shellcheck missing (apt-get install shellcheck)"; exit 1; }
scripts=(deploy/tests/*.sh deploy/k8s-rbd/*.sh)
(( ${#scripts[@]} >= 8 )) || { echo "FAIL: found only ${#scripts[@]} scripts"; exit 1; }
shellcheck -x "${scripts[@]}"
echo "shellcheck: ${#scripts[@]} scripts clean"
