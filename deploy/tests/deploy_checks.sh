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
