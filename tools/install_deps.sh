#!/usr/bin/env bash
# Installs what blockstore needs from Debian bookworm's packages (and the deploy checks' npm
# packages), only when something is missing. Safe to run again; run as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # Build: Debian's Bazel 4.2.3 and the compilers (clang for the thread-safety analysis), and
  # clang-format, which tools/test.sh runs over the tree (tools/check_format.sh); libFuzzer's
  # runtime for tools/fuzz.sh (not pulled in by clang without recommends).
  bazel-bootstrap g++ clang clang-format libclang-rt-14-dev pkg-config
  # Libraries (docs/build.md).
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  liburing-dev prometheus-cpp-dev libgoogle-glog-dev libgtest-dev libgmock-dev libbenchmark-dev
  libssl-dev  # libcrypto: SHA-256 of bearer tokens (server/security/access_tokens.cc)
  # Tests and benchmarks: a second-language client, Prometheus, linters, fio and nbdkit, and
  # openssl, which makes the TLS tests' certificates.
  python3-grpcio python3-protobuf grpc-proto prometheus yamllint shellcheck jq fio nbdkit openssl
  # The RBD store: librbd/librados to build against, and a throwaway single-node Ceph for its
  # tests (tools/ceph/start_cluster.sh: a monitor, one OSD, the ceph and rbd tools).
  ceph-mon ceph-osd ceph-common librbd-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "install_deps: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The deploy checks validate Kubernetes manifests offline with npm's kubernetes-models. npm ci
# runs again when the lock file changed since the last install (a pull that adds a package),
# not only when node_modules is missing.
lock=tools/deploy-checks/package-lock.json
stamp=tools/deploy-checks/node_modules/.blockstore-lock.sha256
if [ -f "$lock" ] && ! sha256sum --check --status "$stamp" 2>/dev/null; then
  echo "install_deps: npm ci in tools/deploy-checks"
  (cd tools/deploy-checks && npm ci --no-audit --no-fund --loglevel=error)
  sha256sum "$lock" >"$stamp"
fi
