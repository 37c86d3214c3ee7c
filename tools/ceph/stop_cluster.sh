#!/usr/bin/env bash
# Tears down a cluster that tools/ceph/start_cluster.sh started in DIR: SIGKILLs every daemon
# whose PID is in DIR/pids (and the watchdog, if any), waits for them to go, removes DIR.
# Under a second. A PID is killed only while its command line still names DIR/ceph.conf, so a
# PID the system has since reused for something else is left alone.
#
#   tools/ceph/stop_cluster.sh [--keep] DIR     # --keep: leave DIR (logs) in place
set -euo pipefail

log() { echo "stop_cluster: $*" >&2; }

keep=0
kill_watchdog=1
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep=1; shift ;;
    --no-watchdog) kill_watchdog=0; shift ;;  # The watchdog itself calls us.
    -*) log "unknown option $1"; exit 1 ;;
    *) break ;;
  esac
done
if [ $# -ne 1 ]; then log "usage: stop_cluster.sh [--keep] DIR"; exit 1; fi
dir="$1"
if [ ! -f "$dir/.blockstore-ceph-cluster" ]; then
  log "$dir was not made by start_cluster.sh; not touching it"
  exit 1
fi
dir="$(cd "$dir" && pwd)"
conf="$dir/ceph.conf"

# True if process $1 exists and its command line contains $2.
cmdline_has() {
  [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}

if [ "$kill_watchdog" -eq 1 ] && [ -f "$dir/watchdog.pid" ]; then
  pid="$(cat "$dir/watchdog.pid")"
  if cmdline_has "$pid" start_cluster.sh; then kill -9 "$pid" 2>/dev/null || true; fi
fi

pids=()
if [ -f "$dir/pids" ]; then
  while read -r pid; do
    [ -n "$pid" ] || continue
    if cmdline_has "$pid" "$conf"; then
      kill -9 "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done < "$dir/pids"
fi

# They are not our children, so no wait(): poll until each is gone (SIGKILL takes effect within
# milliseconds; the bound is for a process stuck in uninterruptible IO).
for _ in $(seq 1 50); do
  alive=0
  for pid in "${pids[@]+"${pids[@]}"}"; do
    if kill -0 "$pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
      alive=1
    fi
  done
  [ "$alive" -eq 0 ] && break
  sleep 0.1
done
if [ "$alive" -ne 0 ]; then log "some daemons of $dir are still alive after SIGKILL"; fi

if [ "$keep" -eq 0 ]; then rm -rf "$dir"; fi
