#!/usr/bin/env bash
# service_bench: blockstored driven by blockbench, beside nbdkit's file plugin driven by fio's nbd
# engine, at the same queue depth, IO size, total bytes and flush pattern, in one bounded run.
# Usage: bazel run -c opt //tools/bench:service_bench
# Prints one row per workload (IOPS and p99 latency for both, and the IOPS ratio) and ends with
# the line `min ratio vs nbdkit: X.XX`. Servers bind only 127.0.0.1 or unix sockets; every process
# it starts is killed on exit. Results and the method are in docs/benchmarks.md ("## Service").
#
# Environment (all optional):
#   SERVICE_BENCH_ROWS      rows to run, e.g. "rand4k32 seq4k32" (default: every row below)
#   SERVICE_BENCH_WRITES    writes per 4 KiB row (default 65536: 256 MiB, the volume's size)
#   SERVICE_BENCH_FLUSH     flush after every this many writes (default 256)
#   SERVICE_BENCH_SIDES     "both" (default), "nbdkit" or "blockstore"
#   SERVICE_BENCH_KEEP      1 keeps the data directory and the logs after the run
set -euo pipefail

readonly workspace="${BUILD_WORKSPACE_DIRECTORY:-$PWD}"
readonly data_dir="${workspace}/data/bench-service"
readonly volume_bytes=$((256 * 1024 * 1024))
readonly writes_4k="${SERVICE_BENCH_WRITES:-65536}"
readonly flush_every="${SERVICE_BENCH_FLUSH:-256}"
readonly sides="${SERVICE_BENCH_SIDES:-both}"
readonly run_limit_seconds=60  # one blockbench or fio run; the whole bench stays near 3 minutes

# Each row: name, pattern (rand|seq), IO size in bytes, queue depth, writes.
declare -A row_pattern row_io_bytes row_depth row_writes
all_rows=(seq4k32 rand4k32 rand4k1 seq64k32)
row_pattern=([seq4k32]=seq [rand4k32]=rand [rand4k1]=rand [seq64k32]=seq)
row_io_bytes=([seq4k32]=4096 [rand4k32]=4096 [rand4k1]=4096 [seq64k32]=65536)
row_depth=([seq4k32]=32 [rand4k32]=32 [rand4k1]=1 [seq64k32]=32)
# Depth 1 pays one round trip per write and 64 KiB writes move 16x the bytes: fewer writes keep
# those rows to a few seconds; each row's total is the same for both servers.
row_writes=([seq4k32]="$writes_4k" [rand4k32]="$writes_4k" [rand4k1]=$((writes_4k / 8))
  [seq64k32]=$((writes_4k / 16)))
read -r -a rows <<<"${SERVICE_BENCH_ROWS:-${all_rows[*]}}"

die() {
  echo "service_bench: $*" >&2
  exit 1
}

for tool in nbdkit fio jq awk timeout; do
  command -v "$tool" >/dev/null || die "$tool not found (tools/install_deps.sh installs it)"
done

# Sockets live in a short private directory (a unix socket path is limited to 108 bytes); the
# data lives on the workspace's file system, as the issue asks.
socket_dir="$(mktemp -d /tmp/service_bench.XXXXXX)"
log_dir="${data_dir}/logs"
child_pids=()

cleanup() {
  local status=$?
  for pid in "${child_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${child_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$socket_dir"
  if [ "${SERVICE_BENCH_KEEP:-0}" != 1 ]; then
    rm -rf "$data_dir"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$data_dir"
mkdir -p "$data_dir" "$log_dir"

# ---------------------------------------------------------------------------------------------
# nbdkit + fio

# Writes a fio version-2 iolog: `writes` writes of `io_bytes` at offsets in [0, volume_bytes),
# sequential (wrapping) or uniformly random with a fixed seed, and one FLUSH after every
# `flush_every` writes. A log rather than fio's fsync=N: fio 3.33 with an async engine issues a
# burst of syncs (one per free queue slot, ~27 at depth 32) at each fsync=N boundary, because
# it decides "time to sync" again until the first sync completes; its fdatasync=N is refused by
# the nbd engine (EINVAL). The log gives exactly writes/flush_every NBD_CMD_FLUSH requests.
write_iolog() {
  local pattern=$1 io_bytes=$2 writes=$3 out=$4
  awk -v pattern="$pattern" -v io_bytes="$io_bytes" -v writes="$writes" \
    -v slots=$((volume_bytes / $2)) -v flush_every="$flush_every" 'BEGIN {
      srand(42)
      print "fio version 2 iolog"
      print "nbd add"
      print "nbd open"
      for (i = 0; i < writes; i++) {
        slot = (pattern == "seq") ? i % slots : int(rand() * slots)
        printf "nbd write %d %d\n", slot * io_bytes, io_bytes
        if ((i + 1) % flush_every == 0) print "nbd sync 0 0"
      }
      print "nbd close"
    }' >"$out"
}

start_nbdkit() {
  local image=$1 socket=$2
  rm -f "$socket"
  # Sparse, like blockstored's volume files (ftruncate), so both start from the same state.
  truncate -s "$volume_bytes" "$image"
  nbdkit --exit-with-parent -f -U "$socket" file "$image" 2>"$log_dir/nbdkit.log" &
  child_pids+=($!)
  local i
  for i in $(seq 1 100); do
    [ -S "$socket" ] && return 0
    sleep 0.05
  done
  die "nbdkit did not create $socket (log: $log_dir/nbdkit.log)"
}

# Runs one row through fio; prints "iops p99_us flushes".
run_fio() {
  local row=$1 socket=$2
  local iolog="$data_dir/$row.iolog" out="$log_dir/fio-$row.json"
  write_iolog "${row_pattern[$row]}" "${row_io_bytes[$row]}" "${row_writes[$row]}" "$iolog"
  timeout "$run_limit_seconds" fio --name="$row" --ioengine=nbd \
    --uri="nbd+unix:///?socket=$socket" --rw=write --bs="${row_io_bytes[$row]}" \
    --iodepth="${row_depth[$row]}" --size="$volume_bytes" --read_iolog="$iolog" \
    --replay_no_stall=1 --lat_percentiles=1 --clat_percentiles=0 \
    --percentile_list=50:99:99.9 --output-format=json --output="$out" \
    >"$log_dir/fio-$row.log" 2>&1 || die "fio failed on $row (log: $log_dir/fio-$row.log)"
  # IOPS over the whole job, flushes included, as blockbench counts them.
  jq -r '.jobs[0] | [
      (.write.total_ios / (.job_runtime / 1000)),
      (.write.lat_ns.percentile["99.000000"] / 1000),
      .sync.total_ios] | @tsv' "$out"
}

# ---------------------------------------------------------------------------------------------
# Main

declare -A nbd_iops nbd_p99 nbd_flushes bs_iops bs_p99

if [ "$sides" != blockstore ]; then
  start_nbdkit "$data_dir/nbdkit.img" "$socket_dir/nbd.sock"
  for row in "${rows[@]}"; do
    read -r nbd_iops[$row] nbd_p99[$row] nbd_flushes[$row] < <(run_fio "$row" "$socket_dir/nbd.sock")
    printf 'nbdkit  %-9s %10.0f IOPS  p99 %8.0f us  %d flushes\n' "$row" "${nbd_iops[$row]}" \
      "${nbd_p99[$row]}" "${nbd_flushes[$row]}" >&2
  done
fi
