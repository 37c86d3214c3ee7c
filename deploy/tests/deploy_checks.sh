# shellcheck shell=bash
# Sourced by the deploy tests: locates tools/deploy-checks and its npm packages.
# The packages are not in the repository: `npm ci --prefix tools/deploy-checks` installs them
# from package-lock.json. Runfiles are symlinks into the source tree, so the real directory
# (and its node_modules) is found through package.json.

deploy_checks_dir() {
  local package_json
  package_json="$(readlink -f tools/deploy-checks/package.json)"
  local dir
  dir="$(dirname "${package_json}")"
  if [[ ! -d "${dir}/node_modules/kubernetes-models" ||
        ! -d "${dir}/node_modules/@kubernetes-models/cert-manager" ||
        ! -d "${dir}/node_modules/@prometheus-io/lezer-promql" ]]; then
    echo "FAIL: npm packages missing; run: npm ci --prefix tools/deploy-checks" >&2
    return 1
  fi
  echo "${dir}"
}

# expect_in TEXT NEEDLE: fails the test unless NEEDLE occurs in TEXT.
expect_in() {
  if [[ "$1" != *"$2"* ]]; then
    echo "FAIL: expected to find: $2" >&2
    echo "in:" >&2
    echo "$1" >&2
    return 1
  fi
}

# make_test_ca DIR: a throwaway CA for one test, DIR/ca.crt and DIR/ca.key (ECDSA P-256, one
# day), like the one cert-manager/issuers.yaml bootstraps.
make_test_ca() {
  mkdir -p "$1"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=blockstore-test-ca -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout "$1/ca.key" -out "$1/ca.crt" 2>/dev/null
}

# issue_test_cert CA_DIR OUT_DIR CN SAN EKU: OUT_DIR/tls.crt, tls.key and ca.crt, laid out as
# cert-manager writes a Certificate's Secret. SAN as openssl takes it ("DNS:a,URI:b"), EKU
# serverAuth or clientAuth.
issue_test_cert() {
  local ca=$1 out=$2 cn=$3 san=$4 eku=$5
  mkdir -p "${out}"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=${cn}" \
    -keyout "${out}/tls.key" -out "${out}/tls.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=%s\n' "${san}" "${eku}" > "${out}/ext"
  openssl x509 -req -in "${out}/tls.csr" -CA "${ca}/ca.crt" -CAkey "${ca}/ca.key" \
    -CAcreateserial -days 1 -extfile "${out}/ext" -out "${out}/tls.crt" 2>/dev/null
  cp "${ca}/ca.crt" "${out}/ca.crt"
  rm -f "${out}/tls.csr" "${out}/ext"
}

# fetch_metrics URL: prints the text exposition at URL (http://HOST:PORT/metrics); fails the
# test when it does not answer within 10 s.
fetch_metrics() {
  python3 -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "$1"
}
