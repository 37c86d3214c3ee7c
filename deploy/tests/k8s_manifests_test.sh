#!/bin/bash
# Validates deploy/k8s and deploy/seccomp offline: Kubernetes schemas (npm kubernetes-models,
# @kubernetes-models/prometheus-operator for the ServiceMonitor) and blockstore's rules
# (non-root, read-only root, drop ALL, Localhost io_uring seccomp, gRPC probes, memory sized
# from --cache_bytes, ...). A broken fixture must be rejected for each of its faults.
# When kubectl is installed, also checks `kubectl kustomize` renders both.
set -euo pipefail
# shellcheck source=deploy/tests/deploy_checks.sh
source deploy/tests/deploy_checks.sh
checks="$(deploy_checks_dir)"
root="$(pwd)"

(cd "${checks}" && node validate-k8s.mjs check --rules "${root}/deploy/prometheus/alerts.yaml" \
  "${root}/deploy/k8s" "${root}/deploy/seccomp")

set +e
output="$(cd "${checks}" && node validate-k8s.mjs check "${root}/deploy/testdata/bad_k8s" 2>&1)"
status=$?
set -e
if (( status == 0 )); then
  echo "FAIL: the broken fixture passed validation"
  exit 1
fi
expect_in "${output}" "resource missing.yaml does not exist"
expect_in "${output}" "data/spec/replicas must be integer"
expect_in "${output}" "serviceName nowhere is not a headless Service"
expect_in "${output}" "root filesystem is writable"
expect_in "${output}" "terminationGracePeriodSeconds < 60"
expect_in "${output}" "seccomp profile must be the Localhost io-uring.json profile"
expect_in "${output}" "--cache_bytes is not set"

if command -v kubectl >/dev/null; then
  for dir in deploy/k8s deploy/seccomp; do
    # kustomize does not follow the runfiles' symlinks: render the source directory.
    source_dir="$(dirname "$(readlink -f "${dir}/kustomization.yaml")")"
    kinds="$(kubectl kustomize "${source_dir}" | grep -c '^kind:')"
    echo "kubectl kustomize ${dir}: ${kinds} objects"
    (( kinds > 0 ))
  done
else
  echo "kubectl not installed: kustomize rendering not checked"
fi
