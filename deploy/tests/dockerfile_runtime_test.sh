#!/bin/bash
# No Docker engine runs here, so this checks what can be checked of deploy/Dockerfile: a
# bookworm build stage and a bookworm-slim runtime stage that runs as a non-root user, and
# whose apt-get install list covers every shared library `ldd blockstored` resolves (mapped to
# Debian packages with dpkg -S).
set -euo pipefail
dockerfile="deploy/Dockerfile"
blockstored="server/blockstored"

grep -qE '^FROM debian:bookworm AS build$' "${dockerfile}" || { echo "FAIL: build stage"; exit 1; }
runtime="$(sed -n '/^FROM debian:bookworm-slim AS runtime$/,$p' "${dockerfile}")"
[[ -n "${runtime}" ]] || { echo "FAIL: no bookworm-slim runtime stage"; exit 1; }
user="$(grep -oP '^USER \K\S+' <<<"${runtime}" | tail -1)"
[[ -n "${user}" && "${user%%:*}" != "0" && "${user%%:*}" != "root" ]] ||
  { echo "FAIL: the runtime stage must end as a non-root USER (got '${user}')"; exit 1; }
grep -q 'COPY --from=build .*blockstored' <<<"${runtime}" || { echo "FAIL: binary not copied"; exit 1; }

# The runtime stage's package list: the words after `install` up to the next `&&`.
installed="$(tr '\n' ' ' <<<"${runtime}" | sed 's/\\ / /g' |
  grep -oP 'apt-get install \K.*?(?=&&)' | tr ' ' '\n' | grep -v '^-' | grep -v '^$' | sort -u)"
[[ -n "${installed}" ]] || { echo "FAIL: no apt-get install in the runtime stage"; exit 1; }

libs="$(ldd "${blockstored}" | awk '/=> \// {print $3}')"
(( $(wc -l <<<"${libs}") > 5 )) || { echo "FAIL: ldd found too few libraries"; exit 1; }
# dpkg records a library under /lib or /usr/lib depending on the package (merged /usr): ask
# for both spellings in one dpkg call (one call per library takes a minute).
candidates=()
while read -r lib; do
  candidates+=("${lib}" "/usr${lib}" "${lib#/usr}" "$(readlink -f "${lib}")")
done <<<"${libs}"
owners="$(dpkg -S "${candidates[@]}" 2>/dev/null || true)"
needed=""
while read -r lib; do
  package="$(awk -v a="${lib}" -v b="/usr${lib}" -v c="${lib#/usr}" \
    '{ split($0, f, ": "); if (f[2] == a || f[2] == b || f[2] == c) { print f[1]; exit } }' \
    <<<"${owners}")"
  if [[ -z "${package}" ]]; then
    real="$(readlink -f "${lib}")"
    package="$(awk -v a="${real}" '{ split($0, f, ": "); if (f[2] == a) { print f[1]; exit } }' \
      <<<"${owners}")"
  fi
  [[ -n "${package}" ]] || { echo "FAIL: no Debian package owns ${lib}"; exit 1; }
  needed+="${package%%:*}"$'\n'
done <<<"${libs}"
needed="$(sort -u <<<"${needed}" | grep -v '^$')"
missing="$(comm -23 <(echo "${needed}") <(echo "${installed}"))"
if [[ -n "${missing}" ]]; then
  echo "FAIL: the runtime stage lacks packages blockstored loads:"
  echo "${missing}"
  exit 1
fi
echo "runtime stage covers $(wc -l <<<"${needed}") packages of $(wc -l <<<"${libs}") libraries"
