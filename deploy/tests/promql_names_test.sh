#!/bin/bash
# Every PromQL expression of the dashboard and the alert rules parses (Prometheus' own lezer
# grammar) and names only metrics and labels blockstored exports. The exported set comes from
# //server/metrics:example_exposition, the collectors' own output for one example volume; a
# fixture with a misspelt metric, a wrong label and a syntax error must be rejected.
set -euo pipefail
# shellcheck source=deploy/tests/deploy_checks.sh
source deploy/tests/deploy_checks.sh
checks="$(deploy_checks_dir)"
root="$(pwd)"
exposition="${TEST_TMPDIR}/exposition.txt"
server/metrics/example_exposition > "${exposition}"
grep -q '^# TYPE blockstore_buffers_under_io gauge$' "${exposition}"
grep -q '^# TYPE blockstore_pages_under_writeback gauge$' "${exposition}"

(cd "${checks}" && node promql.mjs check --exposition "${exposition}" \
  --dashboard "${root}/deploy/grafana/blockstore-dashboard.json" \
  --rules "${root}/deploy/prometheus/alerts.yaml")

set +e
output="$(cd "${checks}" && node promql.mjs check --exposition "${exposition}" \
  --dashboard "${root}/deploy/testdata/bad_dashboard.json" 2>&1)"
status=$?
set -e
(( status != 0 )) || { echo "FAIL: the bad dashboard passed"; exit 1; }
expect_in "${output}" "blockstore_pages_writen_total is not exported by blockstored"
expect_in "${output}" 'blockstore_buffers_under_io has no label "kind"'
expect_in "${output}" "syntax error"

# The dashboard covers what operators asked for.
dashboard="deploy/grafana/blockstore-dashboard.json"
for metric in blockstore_buffers_under_io blockstore_pages_under_writeback \
    blockstore_dirty_limit_bytes blockstore_bio_bytes_bucket blockstore_write_errors_total \
    blockstore_dirty_throttle_seconds_total blockstore_cache_hits_total \
    blockstore_rpc_seconds_bucket blockstore_written_bytes_total; do
  grep -q "${metric}" "${dashboard}" || { echo "FAIL: dashboard lacks ${metric}"; exit 1; }
done
jq -e '.templating.list | map(.name) | index("volume") != null' "${dashboard}" >/dev/null
