#!/bin/bash
# Every PromQL expression of the dashboard and the alert rules parses (Prometheus' own lezer
# grammar) and names only metrics and labels blockstored exports. The exported set is
# //server/metrics:example_exposition (the volume and RPC collectors' own output for one
# example volume) together with what a real blockstored serves on /metrics before any volume
# exists (the server-wide families: store, locks, failovers, refusals, startup leftovers); a
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

out="${TEST_TMPDIR}/blockstored.out"
server/blockstored --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 \
  --data_dir="${TEST_TMPDIR}/data" > "${out}" 2> "${TEST_TMPDIR}/blockstored.err" &
pid=$!
trap 'kill -KILL "${pid}" 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do
  grep -q '^blockstored metrics on ' "${out}" && break
  kill -0 "${pid}" 2>/dev/null || break
  sleep 0.1
done
metrics="$(sed -n 's/^blockstored metrics on //p' "${out}")"
if [[ -z "${metrics}" ]]; then
  echo "FAIL: blockstored did not start:"
  cat "${TEST_TMPDIR}/blockstored.err"
  exit 1
fi
fetch_metrics "http://${metrics}" >> "${exposition}"
kill -TERM "${pid}"
wait "${pid}" || { echo "FAIL: blockstored exited with $? on SIGTERM"; exit 1; }
grep -q '^blockstore_store_info{store="dir",advertise_address=' "${exposition}"
grep -q '^blockstore_requests_denied_total{reason="permission_denied"} 0$' "${exposition}"

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
    blockstore_rpc_seconds_bucket blockstore_written_bytes_total blockstore_store_info \
    blockstore_volume_locks_acquired_total blockstore_volume_locks_lost_total \
    blockstore_volume_failovers_total blockstore_requests_denied_total; do
  grep -q "${metric}" "${dashboard}" || { echo "FAIL: dashboard lacks ${metric}"; exit 1; }
done
jq -e '.templating.list | map(.name) | index("volume") != null' "${dashboard}" >/dev/null
