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
# The RBD variant (deploy/k8s-rbd, an overlay of deploy/k8s, with deploy/k8s-rbd/rook): the
# checks render it as kustomize does (and, with kubectl, compare that rendering with
# `kubectl kustomize`'s), check Rook's kinds against their CRDs' schemas, and apply the rules
# of --store=rbd; its flags are deploy/k8s's with only the store's changed; the Secret that
# keyring-secret.sh prints completes it (its keyring parses with ceph-authtool where Ceph is
# installed, for the client the flags name); ceph.conf says what Ceph's own parser reads.
set -euo pipefail
# shellcheck source=deploy/tests/deploy_checks.sh
source deploy/tests/deploy_checks.sh
checks="$(deploy_checks_dir)"
root="$(pwd)"
kustomizations=(deploy/k8s deploy/k8s/cert-manager deploy/k8s/client-example deploy/seccomp
                deploy/k8s-rbd deploy/k8s-rbd/rook)

(cd "${checks}" && node validate-k8s.mjs check --rules "${root}/deploy/prometheus/alerts.yaml" \
  "${kustomizations[@]/#/${root}/}")

# reject FIXTURE_DIR [DIR...]: validate-k8s.mjs, checking them together, must fail; prints
# its complaints.
reject() {
  local output status=0 dirs=() dir
  for dir in "$@"; do
    if [[ "${dir}" == /* ]]; then dirs+=("${dir}"); else dirs+=("${root}/${dir}"); fi
  done
  output="$(cd "${checks}" && node validate-k8s.mjs check "${dirs[@]}" 2>&1)" || status=$?
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

output="$(reject deploy/testdata/bad_k8s_rbd deploy/testdata/bad_k8s_rbd/rook \
          deploy/k8s/cert-manager)"
expect_in "${output}" 'test failed: /spec/type is "ClusterIP", not "NodePort"'
expect_in "${output}" "only JSON patches (a list of operations) are supported"
expect_in "${output}" "--store=rbd keeps no data on the pod: drop volumeClaimTemplates"
expect_in "${output}" "--data_dir is for --store=dir; with --store=rbd it is ignored"
expect_in "${output}" "--ceph_client_id=admin would put the cluster's admin key in every pod"
expect_in "${output}" "--ceph_conf: mount /etc/blockstore/ceph must be readOnly"
expect_in "${output}" "ceph.conf names no mon_host"
expect_in "${output}" "keyring comes from ConfigMap blockstore-ceph-conf; a key belongs in a Secret"
expect_in "${output}" "CephClient blockstore: spec.caps.osd must be string, not integer"
expect_in "${output}" "CephClient blockstore: spec.capabilities is not a field of this kind"
expect_in "${output}" "CephBlockPool rook-ceph/volumes: replicated.size 1 keeps one copy"
expect_in "${output}" 'CephClient rook-ceph/admin: caps.mon lacks "profile rbd"'
expect_in "${output}" 'caps.osd does not grant "profile rbd pool=volumes"'

# The RBD variant's flags are deploy/k8s's, less the data directory's, plus the store's and the
# address other replicas name as a volume's owner.
flags_of() { (cd "${checks}" && node validate-k8s.mjs flags "${root}/$1") | sort; }
rbd_only='^--(store|ceph_conf|rbd_pool|ceph_client_id|advertise_address)='
if ! diff <(flags_of deploy/k8s | grep -Ev '^--(data_dir|thin)=') \
          <(flags_of deploy/k8s-rbd | grep -Ev "${rbd_only}"); then
  echo "FAIL: deploy/k8s-rbd/flags-patch.yaml and deploy/k8s/configmap.yaml differ in more" \
       "than the store's flags (above: < only in deploy/k8s, > only in deploy/k8s-rbd)"
  exit 1
fi
expect_in "$(flags_of deploy/k8s-rbd)" "--store=rbd"
echo "deploy/k8s-rbd: deploy/k8s's flags with the RBD store's"

# The Secret keyring-secret.sh prints from a key completes deploy/k8s-rbd: checked with it, for
# the client the flags name; made for another client, refused.
with_keyring="${TEST_TMPDIR}/with-keyring"
mkdir -p "${with_keyring}"
cat > "${with_keyring}/kustomization.yaml" <<KUSTOMIZATION
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: blockstore
resources:
  - $(realpath -s --relative-to="${with_keyring}" "${root}/deploy/k8s-rbd")
  - keyring-secret.yaml
KUSTOMIZATION
# A throwaway key from `ceph-authtool --gen-print-key`: a key of no cluster.
key="AQCHsRZr44XWDBAAthuM3Fsdc+PccbJLllS0YQ=="
deploy/k8s-rbd/keyring-secret.sh <<<"${key}" > "${with_keyring}/keyring-secret.yaml"
(cd "${checks}" && node validate-k8s.mjs check "${root}/deploy/k8s/cert-manager" \
   "${root}/deploy/k8s-rbd/rook" "${with_keyring}")
keyring="$(sed -n 's/^  keyring: //p' "${with_keyring}/keyring-secret.yaml" | base64 -d)"
expect_in "${keyring}" "$(printf '[client.blockstore]\n\tkey = %s' "${key}")"
if command -v ceph-authtool >/dev/null; then
  printf '%s\n' "${keyring}" > "${TEST_TMPDIR}/keyring"
  expect_in "$(ceph-authtool -l "${TEST_TMPDIR}/keyring")" "key = ${key}"
  echo "keyring-secret.sh: its keyring parses with ceph-authtool"
else
  echo "ceph-authtool not installed: the keyring's syntax not checked by Ceph"
fi
deploy/k8s-rbd/keyring-secret.sh --client other <<<"${key}" \
  > "${with_keyring}/keyring-secret.yaml"
expect_in "$(reject deploy/k8s/cert-manager deploy/k8s-rbd/rook "${with_keyring}")" \
  "keyring holds no key of client.blockstore (it has client.other)"
status=0
deploy/k8s-rbd/keyring-secret.sh <<<"not a key" >/dev/null 2>&1 || status=$?
(( status == 2 )) || { echo "FAIL: keyring-secret.sh took a bad key (exit ${status})"; exit 1; }
echo "keyring-secret.sh: its Secret completes deploy/k8s-rbd; one for another client is refused"

# ceph.conf as Ceph itself reads it: the keyring where the pod mounts the Secret.
if command -v ceph-conf >/dev/null; then
  client_id="$(flags_of deploy/k8s-rbd | sed -n 's/^--ceph_client_id=//p')"
  looked_up="$(ceph-conf -c deploy/k8s-rbd/ceph.conf --name "client.${client_id}" \
               --lookup keyring)"
  [[ "${looked_up}" == /etc/blockstore/ceph-keyring/keyring ]] ||
    { echo "FAIL: Ceph reads keyring = ${looked_up} from deploy/k8s-rbd/ceph.conf"; exit 1; }
  echo "deploy/k8s-rbd/ceph.conf: Ceph reads the keyring path the checks expect"
else
  echo "ceph-conf not installed: ceph.conf not read by Ceph's parser"
fi

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
    kubectl kustomize "${source_dir}" > "${TEST_TMPDIR}/rendered.yaml"
    kinds="$(grep -c '^kind:' "${TEST_TMPDIR}/rendered.yaml")"
    echo "kubectl kustomize ${dir}: ${kinds} objects"
    (( kinds > 0 ))
    if [[ "${dir}" == deploy/k8s-rbd* ]]; then
      # What the checks saw of the RBD variant is what kubectl makes of it.
      (cd "${checks}" && node validate-k8s.mjs compare "${root}/${dir}" \
         "${TEST_TMPDIR}/rendered.yaml")
    fi
  done
else
  echo "kubectl not installed: kustomize rendering not checked"
fi
