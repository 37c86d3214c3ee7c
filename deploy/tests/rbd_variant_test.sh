#!/bin/bash
# The RBD variant (deploy/k8s-rbd) against a real Ceph: a throwaway single-node cluster
# (tools/ceph/start_cluster.sh) stands in for Rook's, with the pool --rbd_pool names. The
# pod's files are laid out as mounted: the ConfigMaps as they are (ceph.conf with the test
# cluster's monitors in place of Rook's, which is the one line deploy/README.md says to
# change; the access policy), the keyring Secret as keyring-secret.sh prints it, the TLS Secret
# from a test CA. blockstored runs with the ConfigMap's flags under the pod's seccomp profile
# (deploy/seccomp/io-uring.json compiled to BPF, as the kubelet would apply it), two at once
# like two replicas of the StatefulSet:
#   - the first creates a volume for the example admin client and serves the example database
#     client's writes and reads; the second, asked for that volume, names the first as its
#     owner (LocateVolume), and blockctl asked the second follows it to the first;
#   - on SIGTERM each exits 0, the first having flushed the volume and released its lock; a
#     server started after them (a restarted pod) serves the volume with the data written;
#   - what the dashboard's "Store and ownership" and "Refusals" rows read, scraped from each
#     server's /metrics on --store=rbd: store="rbd" with the address it advertises, the
#     volume's series on its owner only (the "Volume owners" table), the lock counted where
#     it was taken, a clean handover counted as no failover and no lost lock, and a call the
#     access policy refuses counted as reason="permission_denied".
# The test cluster runs without cephx, so the keyring's key is not checked by a monitor here
# (k8s_manifests_test checks its form with ceph-authtool). Exits 0 saying it skipped when
# Ceph is not installed (start_cluster.sh's status 77).
set -euo pipefail
# shellcheck source=deploy/tests/deploy_checks.sh
source deploy/tests/deploy_checks.sh
checks="$(deploy_checks_dir)"
root="$(pwd)"
blockstored="${root}/server/blockstored"
blockctl="${root}/client/blockctl"
variant="${root}/deploy/k8s-rbd"

pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -KILL "${pid}" 2>/dev/null || true; done
  if [[ -f "${TEST_TMPDIR}/ceph/pids" ]]; then
    tools/ceph/stop_cluster.sh "${TEST_TMPDIR}/ceph" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

status=0
tools/ceph/start_cluster.sh --owner-pid $$ "${TEST_TMPDIR}/ceph" \
  > "${TEST_TMPDIR}/ceph.env" 2> "${TEST_TMPDIR}/ceph.err" || status=$?
if (( status == 77 )); then
  echo "SKIPPED: Ceph is not installed (tools/install_deps.sh installs it):"
  cat "${TEST_TMPDIR}/ceph.err"
  exit 0
elif (( status != 0 )); then
  echo "FAIL: the test cluster did not start:"
  cat "${TEST_TMPDIR}/ceph.err"
  exit 1
fi
cluster_conf="$(sed -n 's/^export CEPH_CONF=//p' "${TEST_TMPDIR}/ceph.env")"
flags="$(cd "${checks}" && node validate-k8s.mjs flags "${variant}")"
flag() { sed -n "s/^--$1=//p" <<<"${flags}"; }
pool="$(flag rbd_pool)"
client_id="$(flag ceph_client_id)"
[[ "$(flag store)" == rbd && -n "${pool}" && -n "${client_id}" ]] ||
  { echo "FAIL: deploy/k8s-rbd's flags lack --store=rbd, --rbd_pool or --ceph_client_id"; exit 1; }
# What Rook does for rook/pool.yaml: create the pool and initialise it for RBD.
ceph --conf "${cluster_conf}" osd pool create "${pool}" 8 8 >/dev/null 2>&1
rbd --conf "${cluster_conf}" pool init "${pool}"

# The pod's files under ${pod}.
pod="${TEST_TMPDIR}/pod"
secrets="$(cd "${checks}" && node validate-k8s.mjs mounts "${variant}" "${pod}")"
ca="${TEST_TMPDIR}/ca"
make_test_ca "${ca}"
server_sans="$(cd "${checks}" && node validate-k8s.mjs certificate "${variant}" \
               blockstore-server | sed -n 's/^dns /DNS:/p' | paste -sd, -)"
key="$(ceph-authtool --gen-print-key)"
while read -r _ secret dir; do
  [[ -n "${secret}" ]] || continue
  case "${secret}" in
    blockstore-tls)
      issue_test_cert "${ca}" "${dir}" blockstore.blockstore.svc "${server_sans}" serverAuth ;;
    blockstore-ceph-keyring)
      mkdir -p "${dir}"
      deploy/k8s-rbd/keyring-secret.sh --client "${client_id}" <<<"${key}" |
        sed -n 's/^  keyring: //p' | base64 -d > "${dir}/keyring" ;;
    *)
      echo "FAIL: the pod mounts Secret ${secret}, which this test does not know how to fill"
      exit 1 ;;
  esac
done <<<"${secrets}"
for client in db admin; do
  uri="$(cd "${checks}" && node validate-k8s.mjs certificate "${root}/deploy/k8s/client-example" \
         "${client}-blockstore-client" | sed -n 's/^uri //p')"
  issue_test_cert "${ca}" "${TEST_TMPDIR}/${client}" "${client}" "URI:${uri}" clientAuth
done
ceph_conf="${pod}$(flag ceph_conf)"
[[ -f "${ceph_conf}" ]] || { echo "FAIL: --ceph_conf is not a mounted file"; exit 1; }
mon_host="$(ceph-conf -c "${cluster_conf}" --lookup mon_host)"
# The monitors (deploy/README.md's one edit), and the keyring where ${pod} holds it.
sed -i -e "s|^mon_host = ROOK_MON_ENDPOINTS$|mon_host = ${mon_host}|" \
       -e "s|^keyring = /|keyring = ${pod}/|" "${ceph_conf}"
grep -qxF "mon_host = ${mon_host}" "${ceph_conf}" ||
  { echo "FAIL: ceph.conf has no line 'mon_host = ROOK_MON_ENDPOINTS' to fill"; exit 1; }
keyring="$(ceph-conf -c "${ceph_conf}" --name "client.${client_id}" --lookup keyring)"
expect_in "$(ceph-authtool -l "${keyring}")" "[client.${client_id}]"

# The ConfigMap's flags with the pod's paths under ${pod}; loopback addresses; a smaller
# cache, since two servers run at once beside the cluster.
flagfile="${TEST_TMPDIR}/blockstored.flags"
# --advertise_address names the pod through the cluster's DNS ($(POD_NAME) expanded by the
# kubelet): here each server advertises the 127.0.0.1 address it is bound to instead.
grep -v -e '--flagfile=' -e '--advertise_address=' <<<"${flags}" |
  sed "s|=/etc/blockstore/|=${pod}/etc/blockstore/|" > "${flagfile}"
# start NAME: starts blockstored under the seccomp profile; sets `address` to where it listens.
start() {
  local name=$1
  python3 deploy/tests/seccomp_exec.py deploy/seccomp/io-uring.json "${blockstored}" \
    --flagfile="${flagfile}" --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 \
    --cache_bytes=268435456 > "${TEST_TMPDIR}/${name}.out" 2> "${TEST_TMPDIR}/${name}.err" &
  pids+=("$!")
  echo "$!" > "${TEST_TMPDIR}/${name}.pid"
  local _
  for _ in $(seq 1 600); do
    grep -q '^blockstored metrics on ' "${TEST_TMPDIR}/${name}.out" && break
    kill -0 "$!" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q '^blockstored listening on ' "${TEST_TMPDIR}/${name}.out"; then
    echo "FAIL: blockstored ${name} did not start with deploy/k8s-rbd's flags:"
    cat "${TEST_TMPDIR}/${name}.err"
    exit 1
  fi
  address="$(sed -n 's/^blockstored listening on //p' "${TEST_TMPDIR}/${name}.out")"
}
# metric NAME SERIES: the value of SERIES (as exposed, e.g. 'x_total' or 'x{a="b"}') in
# blockstored NAME's /metrics; empty when it has no such series.
metric() {
  local url
  url="http://$(sed -n 's/^blockstored metrics on //p' "${TEST_TMPDIR}/$1.out")"
  fetch_metrics "${url}" | awk -v series="$2" '$1 == series { print $2 }'
}
# expect_metric NAME SERIES VALUE: blockstored NAME exports SERIES with VALUE.
expect_metric() {
  local value
  value="$(metric "$1" "$2")"
  if [[ "${value}" != "$3" ]]; then
    echo "FAIL: blockstored $1: $2 is '${value}', expected $3"
    exit 1
  fi
}
# expect_series NAME SERIES: blockstored NAME exports SERIES, whatever its value.
expect_series() {
  if [[ -z "$(metric "$1" "$2")" ]]; then
    echo "FAIL: blockstored $1 does not export $2"
    exit 1
  fi
}
# stop NAME: SIGTERM, then it must exit 0 within 60 s.
stop() {
  local pid status=0 _
  pid="$(cat "${TEST_TMPDIR}/$1.pid")"
  kill -TERM "${pid}"
  for _ in $(seq 1 600); do
    kill -0 "${pid}" 2>/dev/null || break
    sleep 0.1
  done
  wait "${pid}" || status=$?
  if (( status != 0 )); then
    echo "FAIL: blockstored $1 exited with ${status} after SIGTERM:"
    tail -n 20 "${TEST_TMPDIR}/$1.err"
    exit 1
  fi
}
# as CLIENT ADDRESS ARGS...: blockctl with that example client's certificate, reaching the
# pod by its name through the headless Service; prints its stderr and "exit=N".
as() {
  local client=$1 address=$2 status=0
  shift 2
  "${blockctl}" --server="${address}" --timeout=30s \
    --tls_server_name=blockstore-0.blockstore-headless.blockstore.svc \
    --tls_ca_file="${ca}/ca.crt" --tls_cert_file="${TEST_TMPDIR}/${client}/tls.crt" \
    --tls_key_file="${TEST_TMPDIR}/${client}/tls.key" "$@" \
    > "${TEST_TMPDIR}/blockctl.out" 2> "${TEST_TMPDIR}/blockctl.err" || status=$?
  cat "${TEST_TMPDIR}/blockctl.err"
  echo "exit=${status}"
}

start first
first="${address}"
echo "blockstored on --store=rbd with deploy/k8s-rbd's flags and files at ${first}"
head -c 4096 /dev/urandom > "${TEST_TMPDIR}/page"
expect_in "$(as admin "${first}" create db-rbd 1M)" "exit=0"
expect_in "$(as db "${first}" write db-rbd 0 "${TEST_TMPDIR}/page")" "exit=0"
expect_in "$(as db "${first}" read db-rbd 0 1 "${TEST_TMPDIR}/read")" "exit=0"
cmp "${TEST_TMPDIR}/page" "${TEST_TMPDIR}/read"
expect_in "$(rbd --conf "${cluster_conf}" -p "${pool}" ls)" "db-rbd"
echo "the volume is the RBD image ${pool}/db-rbd"
expect_in "$(as db "${first}" create db-refused 1M)" "PERMISSION_DENIED"
expect_metric first "blockstore_store_info{store=\"rbd\",advertise_address=\"${first}\"}" 1
expect_metric first blockstore_volume_locks_acquired_total 1
expect_metric first blockstore_volume_failovers_total 0
expect_metric first blockstore_volume_locks_lost_total 0
expect_metric first blockstore_volumes 1
expect_series first 'blockstore_pages_cached{volume="db-rbd"}'
expect_metric first 'blockstore_requests_denied_total{reason="permission_denied"}' 1
echo "metrics of the owner: store=rbd at ${first}, one lock taken, db-rbd's series," \
     "the refused create counted as permission_denied"

start second
second="${address}"
expect_in "$(as db "${second}" locate db-rbd; cat "${TEST_TMPDIR}/blockctl.out")" \
  "${first} elsewhere"
rm -f "${TEST_TMPDIR}/read"
expect_in "$(as db "${second}" read db-rbd 0 1 "${TEST_TMPDIR}/read")" "exit=0"
cmp "${TEST_TMPDIR}/page" "${TEST_TMPDIR}/read"
echo "a second replica does not serve the volume the first holds: it names the first" \
     "(LocateVolume), and blockctl asked the second follows it to the first"
expect_metric second "blockstore_store_info{store=\"rbd\",advertise_address=\"${second}\"}" 1
expect_metric second blockstore_volume_locks_acquired_total 0
expect_metric second blockstore_volumes 0
expect_metric second 'blockstore_pages_cached{volume="db-rbd"}' ""
echo "metrics of the second: store=rbd at ${second}, no lock taken, no series of db-rbd"

stop second
stop first
expect_in "$(cat "${TEST_TMPDIR}/first.err")" "nothing was lost"
locks="$(rbd --conf "${cluster_conf}" -p "${pool}" lock ls db-rbd)"
if [[ -n "${locks}" ]]; then
  echo "FAIL: the volume's lock outlived its server's SIGTERM: ${locks}"
  exit 1
fi
echo "SIGTERM: both servers exited 0; the first flushed and released the volume's lock"

start third
third="${address}"
rm -f "${TEST_TMPDIR}/read"
expect_in "$(as db "${third}" read db-rbd 0 1 "${TEST_TMPDIR}/read")" "exit=0"
cmp "${TEST_TMPDIR}/page" "${TEST_TMPDIR}/read"
expect_metric third blockstore_volume_locks_acquired_total 1
expect_metric third blockstore_volume_failovers_total 0
expect_metric third blockstore_volumes 1
expect_series third 'blockstore_pages_cached{volume="db-rbd"}'
echo "metrics of the third: the clean handover took one lock and was no failover"
expect_in "$(as admin "${third}" delete db-rbd)" "exit=0"
stop third
echo "a server started after them serves the volume with its data"
