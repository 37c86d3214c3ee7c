#!/bin/bash
# Every flag the manifests (deploy/k8s and its RBD variant deploy/k8s-rbd) and the Dockerfile
# pass to blockstored exists in `blockstored --help` (rbd_variant_test starts the variant
# against a Ceph cluster), and deploy/k8s's ConfigMap's flagfile really starts the server as the
# pod would: the pod's ConfigMap files laid out as mounted (the access policy), its Secret filled as
# cert-manager would from certificate.yaml (a test CA, the Certificate's DNS names), the
# addresses and data directory overridden to loopback and a temp dir. Then blockctl, with the
# client certificates of client-example/, finds what deploy/README.md promises: no client
# certificate, no connection; each identity may do what the access policy grants it and no
# more. blockstored exits 0 on SIGTERM.
set -euo pipefail
# shellcheck source=deploy/tests/deploy_checks.sh
source deploy/tests/deploy_checks.sh
checks="$(deploy_checks_dir)"
root="$(pwd)"
blockstored="${root}/server/blockstored"
blockctl="${root}/client/blockctl"

help="$("${blockstored}" --help 2>&1 || true)"
expect_in "${help}" "Flags from server/blockstored.cc"

manifest_flags="$(cd "${checks}" && node validate-k8s.mjs flags "${root}/deploy/k8s")"
rbd_flags="$(cd "${checks}" && node validate-k8s.mjs flags "${root}/deploy/k8s-rbd")"
expect_in "${rbd_flags}" "--store=rbd"
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
done < <(printf '%s\n%s\n%s\n' "${manifest_flags}" "${rbd_flags}" "${docker_flags}")
(( checked >= 10 )) || { echo "FAIL: only ${checked} flags found"; exit 1; }
echo "${checked} flags found in blockstored --help"

# The pod's files under ${pod}: ConfigMaps as they are, the Secret as cert-manager fills it.
pod="${TEST_TMPDIR}/pod"
secrets="$(cd "${checks}" && node validate-k8s.mjs mounts "${root}/deploy/k8s" "${pod}")"
ca="${TEST_TMPDIR}/ca"
make_test_ca "${ca}"
server_sans="$(cd "${checks}" && node validate-k8s.mjs certificate "${root}/deploy/k8s" \
               blockstore-server | sed -n 's/^dns /DNS:/p' | paste -sd, -)"
[[ -n "${server_sans}" ]] || { echo "FAIL: the server Certificate names no DNS name"; exit 1; }
while read -r _ secret dir; do
  [[ -n "${secret}" ]] || continue
  if [[ "${secret}" != "blockstore-tls" ]]; then
    echo "FAIL: the pod mounts Secret ${secret}, which this test does not know how to fill"
    exit 1
  fi
  issue_test_cert "${ca}" "${dir}" blockstore.blockstore.svc "${server_sans}" serverAuth
done <<<"${secrets}"
# The clients of client-example/, from the same CA.
for client in db admin; do
  uri="$(cd "${checks}" && node validate-k8s.mjs certificate "${root}/deploy/k8s/client-example" \
         "${client}-blockstore-client" | sed -n 's/^uri //p')"
  [[ -n "${uri}" ]] || { echo "FAIL: no URI in Certificate ${client}-blockstore-client"; exit 1; }
  issue_test_cert "${ca}" "${TEST_TMPDIR}/${client}" "${client}" "URI:${uri}" clientAuth
done

# Start with the ConfigMap's flags as the pod would, its files under ${pod}, overriding what
# must differ here.
flagfile="${TEST_TMPDIR}/blockstored.flags"
grep -v -- '--flagfile=' <<<"${manifest_flags}" | sed "s|=/etc/blockstore/|=${pod}/etc/blockstore/|" \
  > "${flagfile}"
data_dir="${TEST_TMPDIR}/data"
out="${TEST_TMPDIR}/blockstored.out"
"${blockstored}" --flagfile="${flagfile}" --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 \
  --data_dir="${data_dir}" > "${out}" 2> "${TEST_TMPDIR}/blockstored.err" &
pid=$!
trap 'kill -KILL "${pid}" 2>/dev/null || true' EXIT
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
address="$(sed -n 's/^blockstored listening on //p' "${out}")"
echo "blockstored started with the ConfigMap's flags on ${address}"

# blockctl as a client in the cluster reaches a pod: by its name through the headless Service.
# as CLIENT ARGS...: runs blockctl with that client's certificate (none: "anonymous"); prints
# its stderr and exit status as "exit=N".
as() {
  local client=$1 tls=(--tls_ca_file="${ca}/ca.crt")
  shift
  if [[ "${client}" != "anonymous" ]]; then
    tls+=(--tls_cert_file="${TEST_TMPDIR}/${client}/tls.crt"
          --tls_key_file="${TEST_TMPDIR}/${client}/tls.key")
  fi
  local status=0
  "${blockctl}" --server="${address}" --timeout=10s \
    --tls_server_name=blockstore-0.blockstore-headless.blockstore.svc "${tls[@]}" "$@" \
    > /dev/null 2> "${TEST_TMPDIR}/blockctl.err" || status=$?
  cat "${TEST_TMPDIR}/blockctl.err"
  echo "exit=${status}"
}
expect_ok() {
  local output
  output="$(as "$@")"
  expect_in "${output}" "exit=0"
}
expect_refused() {
  local output
  output="$(as "$@")"
  if [[ "${output}" == *"exit=0"* ]]; then
    echo "FAIL: blockctl as $1 ${*:2} succeeded; expected a refusal" >&2
    return 1
  fi
  echo "${output}"
}
payload="${TEST_TMPDIR}/page"
head -c 4096 /dev/urandom > "${payload}"

# Plaintext, and TLS without a client certificate: the handshake fails, no call is made.
plaintext_status=0
"${blockctl}" --server="${address}" --timeout=10s list >/dev/null 2>&1 || plaintext_status=$?
(( plaintext_status != 0 )) || { echo "FAIL: a plaintext client listed the volumes"; exit 1; }
expect_in "$(expect_refused anonymous list)" "UNAVAILABLE"
expect_ok admin create db-flags-test 1M
expect_in "$(expect_refused db create db-other 1M)" "PERMISSION_DENIED"
expect_ok db write db-flags-test 0 "${payload}"
expect_in "$(expect_refused admin write db-flags-test 0 "${payload}")" "PERMISSION_DENIED"
"${blockctl}" --server="${address}" --tls_ca_file="${ca}/ca.crt" \
  --tls_cert_file="${TEST_TMPDIR}/db/tls.crt" --tls_key_file="${TEST_TMPDIR}/db/tls.key" \
  --tls_server_name=blockstore-0.blockstore-headless.blockstore.svc \
  read db-flags-test 0 1 "${TEST_TMPDIR}/read"
cmp "${payload}" "${TEST_TMPDIR}/read"
expect_in "$(expect_refused db delete db-flags-test)" "PERMISSION_DENIED"
expect_ok admin delete db-flags-test
echo "TLS and the access policy as deploy/README.md describes them"

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
