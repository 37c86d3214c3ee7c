#!/bin/bash
# Every flag the manifests and the Dockerfile pass to blockstored exists in
# `blockstored --help`, and the ConfigMap's flagfile really starts the server: blockstored runs
# with it (addresses and data directory overridden to loopback and a temp dir), serves, and
# exits 0 on SIGTERM.
set -euo pipefail
# shellcheck source=deploy/tests/deploy_checks.sh
source deploy/tests/deploy_checks.sh
checks="$(deploy_checks_dir)"
root="$(pwd)"
blockstored="${root}/server/blockstored"

help="$("${blockstored}" --help 2>&1 || true)"
expect_in "${help}" "Flags from server/blockstored.cc"

manifest_flags="$(cd "${checks}" && node validate-k8s.mjs flags "${root}/deploy/k8s")"
docker_flags="$(grep -oP '^CMD \[\K.*(?=\])' deploy/Dockerfile | tr -d '" ' | tr ',' '\n')"
checked=0
while read -r flag; do
  [[ -n "${flag}" ]] || continue
  name="${flag%%=*}"
  name="${name#--}"
  if [[ "${name}" == "flagfile" ]]; then
    continue  # abseil's own flag; exercised below
  fi
  if ! grep -qE -- "^    --${name} \(" <<<"${help}"; then
    echo "FAIL: --${name} (from the manifests or Dockerfile) is not in blockstored --help"
    exit 1
  fi
  checked=$((checked + 1))
done < <(printf '%s\n%s\n' "${manifest_flags}" "${docker_flags}")
(( checked >= 10 )) || { echo "FAIL: only ${checked} flags found"; exit 1; }
echo "${checked} flags found in blockstored --help"

# Start with the ConfigMap's flags as the pod would, overriding what must differ here.
flagfile="${TEST_TMPDIR}/blockstored.flags"
grep -v -- '--flagfile=' <<<"${manifest_flags}" > "${flagfile}"
data_dir="${TEST_TMPDIR}/data"
out="${TEST_TMPDIR}/blockstored.out"
"${blockstored}" --flagfile="${flagfile}" --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 \
  --data_dir="${data_dir}" > "${out}" 2> "${TEST_TMPDIR}/blockstored.err" &
pid=$!
for _ in $(seq 1 150); do
  grep -q '^blockstored metrics on ' "${out}" && break
  kill -0 "${pid}" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q '^blockstored listening on ' "${out}"; then
  kill -KILL "${pid}" 2>/dev/null || true
  echo "FAIL: blockstored did not start with the ConfigMap's flags:"
  cat "${TEST_TMPDIR}/blockstored.err"
  exit 1
fi
kill -TERM "${pid}"
for _ in $(seq 1 600); do
  kill -0 "${pid}" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "${pid}" 2>/dev/null; then
  kill -KILL "${pid}"
  echo "FAIL: blockstored still running 60 s after SIGTERM"
fi
status=0
wait "${pid}" || status=$?
if (( status != 0 )); then
  echo "FAIL: blockstored exited with ${status} after SIGTERM"
  cat "${TEST_TMPDIR}/blockstored.err"
  exit 1
fi
echo "blockstored started with the ConfigMap's flags and stopped cleanly"
