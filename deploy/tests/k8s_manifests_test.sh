#!/bin/bash
# Validates deploy/k8s (with its cert-manager/ and client-example/ kustomizations) and
# deploy/seccomp offline: Kubernetes schemas (npm kubernetes-models;
# @kubernetes-models/prometheus-operator for the ServiceMonitor and PrometheusRule,
# @kubernetes-models/cert-manager for the Certificates and issuers) and blockstore's rules
# (non-root, read-only root, drop ALL, Localhost io_uring seccomp, probes that work with TLS,
# memory sized from --cache_bytes, TLS files mounted from the Certificate's Secret where the
# flags look, a NetworkPolicy admitting the gRPC and metrics ports to named sources only, ...).
# The access policy the pod mounts must parse as blockstore.v1.AccessPolicy (protoc). Each
# broken fixture must be rejected for each of its faults. When kubectl is installed, also
# checks `kubectl kustomize` renders every kustomization.
set -euo pipefail
# shellcheck source=deploy/tests/deploy_checks.sh
source deploy/tests/deploy_checks.sh
checks="$(deploy_checks_dir)"
root="$(pwd)"
kustomizations=(deploy/k8s deploy/k8s/cert-manager deploy/k8s/client-example deploy/seccomp)

(cd "${checks}" && node validate-k8s.mjs check --rules "${root}/deploy/prometheus/alerts.yaml" \
  "${kustomizations[@]/#/${root}/}")

# reject FIXTURE_DIR: validate-k8s.mjs must fail on it; prints its complaints.
reject() {
  local output status=0
  output="$(cd "${checks}" && node validate-k8s.mjs check "${root}/$1" 2>&1)" || status=$?
  if (( status == 0 )); then
    echo "FAIL: the broken fixture $1 passed validation" >&2
    return 1
  fi
  echo "${output}"
}

output="$(reject deploy/testdata/bad_k8s)"
expect_in "${output}" "resource missing.yaml does not exist"
expect_in "${output}" "data/spec/replicas must be integer"
expect_in "${output}" "serviceName nowhere is not a headless Service"
expect_in "${output}" "root filesystem is writable"
expect_in "${output}" "terminationGracePeriodSeconds < 60"
expect_in "${output}" "seccomp profile must be the Localhost io-uring.json profile"
expect_in "${output}" "--cache_bytes is not set"
expect_in "${output}" "blockstored refuses plaintext gRPC on --listen=0.0.0.0:7420"
expect_in "${output}" "no NetworkPolicy selects its pods"

output="$(reject deploy/testdata/bad_k8s_security)"
expect_in "${output}" "startupProbe is a grpc probe, which speaks plaintext"
expect_in "${output}" "livenessProbe must be a gRPC health probe on the grpc port (without TLS) or GET /metrics"
expect_in "${output}" 'ingress rule 0 has no "from": it admits every source'
expect_in "${output}" "ingress rule 1 admits every namespace"
expect_in "${output}" "port 9999 is not a container port"
expect_in "${output}" "no NetworkPolicy rule admits the metrics port"
expect_in "${output}" "--tls_cert_file names ca.crt of the Secret server-tls; it must be tls.crt"
expect_in "${output}" "--tls_key_file: mount /etc/blockstore/tls/tls.key uses subPath"
expect_in "${output}" "--tls_key_file: mount /etc/blockstore/tls/tls.key must be readOnly"
expect_in "${output}" "--tls_client_ca_file: /etc/blockstore/ca/ca.crt is not under a volume mount"
expect_in "${output}" "dnsNames lack *.bad-headless.blockstore.svc"
expect_in "${output}" 'identity "spiffe://cluster.local/ns/apps/sa/db" is none of uri:'
expect_in "${output}" "issuerRef Issuer nowhere is not among the checked manifests"
expect_in "${output}" "uri:spiffe://cluster.local/ns/apps/sa/web is named by no rule"

# The access policy as the pod sees it must be a blockstore.v1.AccessPolicy: protoc encodes it
# (and fails on a misspelled field or permission).
command -v protoc >/dev/null || { echo "FAIL: protoc missing (apt-get install protobuf-compiler)"; exit 1; }
# policy_errors KUSTOMIZATION_DIR: lays out its mounts, prints protoc's complaints about the
# policy file blockstored would read (nothing when it parses).
policy_errors() {
  local mounts="${TEST_TMPDIR}/mounts-${1//\//_}"
  (cd "${checks}" && node validate-k8s.mjs mounts "${root}/$1" "${mounts}") >/dev/null
  local policy
  policy="$(cd "${checks}" && node validate-k8s.mjs flags "${root}/$1" |
            sed -n 's/^--access_policy_file=//p')"
  [[ -n "${policy}" && -f "${mounts}${policy}" ]] || { echo "no access policy mounted"; return; }
  protoc --encode=blockstore.v1.AccessPolicy -I proto proto/blockstore/v1/access_policy.proto \
    < "${mounts}${policy}" > /dev/null 2> "${mounts}.protoc" || true
  cat "${mounts}.protoc"
}
errors="$(policy_errors deploy/k8s)"
if [[ -n "${errors}" ]]; then
  echo "FAIL: deploy/k8s's access policy is not a blockstore.v1.AccessPolicy: ${errors}"
  exit 1
fi
expect_in "$(policy_errors deploy/testdata/bad_k8s_security)" 'Unknown enumeration value of "EXECUTE"'
echo "access policy: parses as blockstore.v1.AccessPolicy; the broken one does not"

if command -v kubectl >/dev/null; then
  for dir in "${kustomizations[@]}"; do
    # kustomize does not follow the runfiles' symlinks: render the source directory.
    source_dir="$(dirname "$(readlink -f "${dir}/kustomization.yaml")")"
    kinds="$(kubectl kustomize "${source_dir}" | grep -c '^kind:')"
    echo "kubectl kustomize ${dir}: ${kinds} objects"
    (( kinds > 0 ))
  done
else
  echo "kubectl not installed: kustomize rendering not checked"
fi
