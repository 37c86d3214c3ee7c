#!/usr/bin/env bash
# Starts a throwaway single-node Ceph cluster for tests: one monitor and one bluestore OSD on a
# sparse file, no cephx, listening on 127.0.0.1 only, everything (configuration, daemon data,
# logs, sockets, the OSD's block file) under one directory. Creates and initialises the pool
# `rbd`, then prints the environment a client needs, as shell assignments:
#
#   eval "$(tools/ceph/start_cluster.sh [--owner-pid PID] [DIR])"   # CEPH_CONF=DIR/ceph.conf
#   ... rbd -p rbd ls, tests, blockstored --store=rbd ...
#   tools/ceph/stop_cluster.sh "$BLOCKSTORE_CEPH_DIR"
#
# DIR must be empty or absent; without it the script makes one with mktemp. The daemons keep
# running after the script exits; their PIDs are in DIR/pids and stop_cluster.sh SIGKILLs them
# (a throwaway cluster needs no clean shutdown, and SIGTERM makes the OSD write out first).
# --owner-pid PID: a watchdog SIGKILLs the daemons and removes DIR once PID has exited, so a
# test that crashes does not leave a cluster behind.
#
# Exit status: 0 started; 77 a Ceph program is missing (tests skip on it; install_deps.sh
# installs them); 1 anything else, with the daemons' log tails on stderr and nothing left running.
# Measured on 2 cores: about 10 s to a usable pool; the OSD stays under ~700 MB RSS.
set -euo pipefail

readonly kSkip=77
# Each step's bound. The whole start is about 10 s; a step that takes this long has hung.
readonly kStepTimeoutSeconds=60

log() { echo "start_cluster: $*" >&2; }

owner_pid=""
dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --owner-pid) owner_pid="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) log "unknown option $1"; exit 1 ;;
    *) dir="$1"; shift ;;
  esac
done

for program in ceph-mon ceph-osd monmaptool ceph rbd python3 timeout; do
  if ! command -v "$program" >/dev/null 2>&1; then
    log "$program not found: Ceph is not installed (tools/install_deps.sh installs ceph-mon," \
        "ceph-osd and ceph-common)"
    exit "$kSkip"
  fi
done

if [ -z "$dir" ]; then
  dir="$(mktemp -d "${TMPDIR:-/tmp}/blockstore-ceph.XXXXXX")"
else
  mkdir -p "$dir"
  if [ -n "$(ls -A "$dir")" ]; then log "$dir is not empty"; exit 1; fi
fi
dir="$(cd "$dir" && pwd)"
# stop_cluster.sh removes only directories that carry this marker.
touch "$dir/.blockstore-ceph-cluster"
mkdir -p "$dir/mon.a" "$dir/osd.0" "$dir/log" "$dir/run" "$dir/crash"
conf="$dir/ceph.conf"
: > "$dir/pids"

started_ok=0
on_exit() {
  if [ "$started_ok" -eq 0 ]; then
    log "failed; last lines of the daemons' logs:"
    for f in "$dir"/log/*.log "$dir"/log/*.out; do
      [ -s "$f" ] || continue
      echo "--- $f" >&2
      tail -n 15 "$f" >&2
    done
    "$(dirname "$0")/stop_cluster.sh" "$dir" >&2 || true
  fi
}
trap on_exit EXIT

# Two free TCP ports on 127.0.0.1 for the monitor (msgr2 and msgr1), from the kernel's ephemeral
# range, so they cannot collide with the OSD's 6800-7300. Another process may take one before
# the monitor binds it; the caller retries with new ports.
free_ports() {
  python3 - <<'PY'
import socket
socks = []
for _ in range(2):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

write_conf() {
  local fsid="$1" v2_port="$2" v1_port="$3"
  cat > "$conf" <<CONF
# Written by tools/ceph/start_cluster.sh: a throwaway test cluster.
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$v2_port,v1:127.0.0.1:$v1_port]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none

run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
crash dir = $dir/crash
mon data = $dir/\$name
osd data = $dir/\$name
# The test cluster's own tools and clients find nothing else: no keyring is needed without cephx.
keyring = /dev/null

# One OSD: one copy of everything, placed on the one host.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
# A client that died loses its watches on images this long after its last ping (default 30 s):
# how soon a failover sees that a volume's owner is gone (docs/scale-out.md).
osd client watch timeout = 5
# At the default critical level (5 %) a nearly full disk stops the monitor from starting.
mon data avail warn = 2
mon data avail crit = 1

[client]
# Every client (each test's librados, each ceph command) is client.admin: one socket path each,
# or all but the first print a bind error.
admin socket = $dir/run/\$name.\$pid.asok

[osd]
osd objectstore = bluestore
# The block file must not be called "block" inside the OSD's directory: mkfs makes a symlink of
# that name and fails with ELOOP. Sparse: only what is written takes disk space.
bluestore block path = $dir/osd.0.block
bluestore block create = true
bluestore block size = 10737418240
bluestore fsck on mount = false
# Memory: the defaults (4 GiB target, autotuned caches, 256 MiB RocksDB write buffers) are for
# a storage server; these keep the OSD at a few hundred MB.
osd memory target = 939524096
bluestore cache autotune = false
bluestore cache size = 134217728
bluestore rocksdb options = compression=kNoCompression,max_write_buffer_number=2,min_write_buffer_number_to_merge=1,recycle_log_file_num=2,write_buffer_size=33554432,writable_file_max_buffer_size=0,compaction_readahead_size=2097152,max_background_compactions=1,max_total_wal_size=134217728
CONF
}

# Runs a command bounded by kStepTimeoutSeconds, with the test cluster's configuration.
run() { timeout "$kStepTimeoutSeconds" "$@" --conf "$conf"; }

# Starts a daemon in the foreground mode (-f, so $! is its PID), detached from our stdio.
start_daemon() {
  local name="$1"; shift
  "$@" --conf "$conf" -f > "$dir/log/$name.out" 2>&1 < /dev/null &
  echo "$!" >> "$dir/pids"
}

# Waits until `check` succeeds, or `seconds` pass (then fails).
wait_for() {
  local what="$1" seconds="$2"; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then log "timed out after ${seconds}s waiting for $what"; return 1; fi
    sleep 0.2
  done
}

fsid="$(cat /proc/sys/kernel/random/uuid)"
# The monitor: bounded retries, in case another process took a port between the probe and bind.
mon_started=0
for attempt in 1 2 3; do
  read -r v2_port v1_port < <(free_ports)
  write_conf "$fsid" "$v2_port" "$v1_port"
  rm -rf "$dir/mon.a" "$dir/monmap" && mkdir -p "$dir/mon.a"
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$v2_port,v1:127.0.0.1:$v1_port]" \
    "$dir/monmap" >/dev/null
  ceph-mon --conf "$conf" --mkfs -i a --monmap "$dir/monmap" > "$dir/log/mon.a.mkfs.out" 2>&1
  start_daemon mon.a ceph-mon -i a
  mon_pid="$(tail -n 1 "$dir/pids")"
  if wait_for "the monitor" 20 run ceph mon stat --connect-timeout 5; then
    mon_started=1
    break
  fi
  kill -9 "$mon_pid" 2>/dev/null || true
  sed -i '$d' "$dir/pids"
  log "monitor did not start (attempt $attempt, ports $v2_port/$v1_port)"
done
if [ "$mon_started" -eq 0 ]; then exit 1; fi

osd_uuid="$(cat /proc/sys/kernel/random/uuid)"
osd_id="$(run ceph osd new "$osd_uuid")"
if [ "$osd_id" != 0 ]; then log "expected osd id 0, got '$osd_id'"; exit 1; fi
timeout "$kStepTimeoutSeconds" ceph-osd --conf "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" \
  > "$dir/log/osd.0.mkfs.out" 2>&1
start_daemon osd.0 ceph-osd -i 0
wait_for "osd.0 up" 60 bash -c \
  "timeout 10 ceph --conf '$conf' osd dump 2>/dev/null | grep -q '^osd.0 up'"

# Creating and initialising the pool writes to it, so it also waits for its PGs to be active.
run ceph osd pool create rbd 8 8 >/dev/null 2>&1
run rbd pool init rbd

if [ -n "$owner_pid" ]; then
  # The watchdog: its own PID goes last in the file so stop_cluster.sh kills it too.
  (
    exec </dev/null >/dev/null 2>&1
    while kill -0 "$owner_pid" 2>/dev/null && [ -d "$dir" ]; do sleep 1; done
    if [ -d "$dir" ]; then "$(dirname "$0")/stop_cluster.sh" --no-watchdog "$dir"; fi
  ) &
  echo "$!" > "$dir/watchdog.pid"
fi

started_ok=1
log "cluster up in ${SECONDS}s: CEPH_CONF=$conf"
echo "export CEPH_CONF=$conf"
echo "export BLOCKSTORE_CEPH_DIR=$dir"
