#!/bin/bash
# promtool (Debian's prometheus package): the alert rules load, their unit tests pass, and the
# example configuration (which loads the rules) is valid.
set -euo pipefail
promtool="/usr/bin/promtool"
[[ -x "${promtool}" ]] || { echo "FAIL: ${promtool} missing (apt-get install prometheus)"; exit 1; }

output="$("${promtool}" check rules deploy/prometheus/alerts.yaml 2>&1)"
echo "${output}"
# shellcheck source=deploy/tests/deploy_checks.sh
source deploy/tests/deploy_checks.sh
expect_in "${output}" "SUCCESS: 8 rules found"

(cd deploy/prometheus && "${promtool}" test rules alerts_test.yaml)
(cd deploy/prometheus && "${promtool}" check config prometheus.yml)

# Every alert has a runbook section in deploy/README.md.
grep -oP '^\s+- alert: \K\w+' deploy/prometheus/alerts.yaml | while read -r alert; do
  anchor="$(echo "${alert}" | tr '[:upper:]' '[:lower:]')"
  grep -q "^### ${alert}\$" deploy/README.md || { echo "FAIL: no runbook for ${alert}"; exit 1; }
  grep -q "deploy/README.md#${anchor}\"" deploy/prometheus/alerts.yaml ||
    { echo "FAIL: ${alert} does not link its runbook"; exit 1; }
done
alerts="$(grep -cP '^\s+- alert: ' deploy/prometheus/alerts.yaml)"
echo "${alerts} alerts, each with a runbook"
