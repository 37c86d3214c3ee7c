#!/usr/bin/env bash
# rbd_bench: blockstored in rbd mode (--store=rbd) driven by blockbench, beside fio's rbd engine
# (librbd with its own cache on, as users run it), on the same throwaway single-node Ceph cluster,
# at the same queue depth, IO size, number of writes and flush pattern, in one bounded run.
# Usage: bazel run -c opt //tools/bench:rbd_bench
# Prints one row per workload (IOPS and p99 write latency for both, the IOPS ratio, and the write
# operations the OSD received from each) and ends with the line `min ratio vs fio-rbd: X.XX`.
# Each row runs in rounds that alternate which side goes first (fio, blockstore; blockstore,
# fio; ...), so an OSD that speeds up or slows down over the run (its RocksDB compacting, the
# disk under its sparse block file) weighs on both sides alike. Every process it starts, the
# cluster's daemons included, is killed on exit. Exits 77 when Ceph is not installed.
# Method and results: docs/benchmarks.md, "## RBD store".
#
# Environment (all optional):
#   RBD_BENCH_ROWS    rows to run, e.g. "rand4k32 rand4k1" (default: all, see all_rows)
#   RBD_BENCH_WRITES  writes per depth-32 row and round (default 32768: 128 MiB); the depth-1
#                     rows run a quarter of it
#   RBD_BENCH_ROUNDS  rounds per row (default 3); each side runs the row's writes once a round
#   RBD_BENCH_FLUSH   a flush after every this many writes (default 256: every 1 MiB of 4 KiB)
#   RBD_BENCH_SIDES   "both" (default), "fio" or "blockstore"
#   RBD_BENCH_KEEP    1 keeps the logs (and the cluster's directory) after the run
#   RBD_BENCH_SERVER_FLAGS  more blockstored flags (default: none)
set -euo pipefail

readonly workspace="${BUILD_WORKSPACE_DIRECTORY:-$PWD}"
readonly data_dir="${workspace}/data/bench-rbd"
readonly log_dir="${data_dir}/logs"
readonly io_bytes=4096
readonly volume_bytes=$((256 * 1024 * 1024))
readonly writes_32="${RBD_BENCH_WRITES:-32768}"
readonly flush_every="${RBD_BENCH_FLUSH:-256}"
readonly sides="${RBD_BENCH_SIDES:-both}"
readonly rounds="${RBD_BENCH_ROUNDS:-3}"
readonly run_limit_seconds=60  # one blockbench or fio run
readonly exit_grace_seconds=2  # after blockbench printed its results (see run_blockbench)
readonly pool=rbd
# The two sides' images, one each, shared by all rows (the sequential rows come first).
readonly bs_volume_prefix=bstore4k  # blockbench names its volume PREFIX-0
readonly bs_volume="${bs_volume_prefix}-0"
readonly fio_image=fio4k

# Rows: pattern and queue depth; all write 4 KiB. Depth 1 pays a round trip per write: fewer
# writes keep those rows to seconds. Each row's total is the same for both sides.
all_rows=(seq4k32 rand4k32 seq4k1 rand4k1)
declare -A row_pattern=([seq4k32]=seq [rand4k32]=rand [seq4k1]=seq [rand4k1]=rand)
declare -A row_depth=([seq4k32]=32 [rand4k32]=32 [seq4k1]=1 [rand4k1]=1)
declare -A row_writes=([seq4k32]="$writes_32" [rand4k32]="$writes_32"
  [seq4k1]=$((writes_32 / 4)) [rand4k1]=$((writes_32 / 4)))
read -r -a rows <<<"${RBD_BENCH_ROWS:-${all_rows[*]}}"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || {
  echo "rbd_bench: RBD_BENCH_ROUNDS must be a positive count, got '$rounds'" >&2
  exit 1
}
if ! [[ "$writes_32" =~ ^[1-9][0-9]*$ ]] || [ "$writes_32" -lt 4 ]; then
  echo "rbd_bench: RBD_BENCH_WRITES must be a count of at least 4, got '$writes_32'" >&2
  exit 1
fi
case "$sides" in both | fio | blockstore) ;; *)
  echo "rbd_bench: RBD_BENCH_SIDES must be both, fio or blockstore, got '$sides'" >&2
  exit 1
  ;;
esac
for row in "${rows[@]}"; do
  [ -n "${row_pattern[$row]:-}" ] || {
    echo "rbd_bench: unknown row $row (rows: ${all_rows[*]})" >&2
    exit 1
  }
done

die() {
  echo "rbd_bench: $*" >&2
  exit 1
}

# Binaries and scripts come from the runfiles tree under `bazel run` (the working directory is
# its workspace directory), else from bazel-bin and the source tree when run by hand.
find_file() {
  local path=$1 base
  for base in "${RUNFILES_DIR:-}/blockstore" "$0.runfiles/blockstore" "$PWD" \
    "${workspace}/bazel-bin" "$workspace"; do
    if [ -x "$base/$path" ]; then
      echo "$base/$path"
      return 0
    fi
  done
  die "$path not found: run with bazel run -c opt //tools/bench:rbd_bench"
}

for tool in fio jq awk timeout ceph rbd; do
  if ! command -v "$tool" >/dev/null; then
    echo "rbd_bench: $tool not found (tools/install_deps.sh installs it and Ceph)" >&2
    # No Ceph, no bench: the same status as start_cluster.sh's, so a caller can tell it apart.
    case "$tool" in ceph | rbd) exit 77 ;; *) exit 1 ;; esac
  fi
done
# fio's rbd engine is a separate package on some distributions (Debian builds it in).
fio --enghelp=rbd >/dev/null 2>&1 || die "this fio has no rbd engine (fio --enghelp=rbd)"

# Sockets and the cluster live in a short private directory (a unix socket path is limited to
# 108 bytes, and the cluster's admin sockets are in it too); the logs in the workspace.
tmp_dir="$(mktemp -d /tmp/rbd_bench.XXXXXX)"
bs_pid=""  # blockstored, once started
ceph_dir="$tmp_dir/ceph"
start_cluster="$(find_file tools/ceph/start_cluster.sh)"
stop_cluster="$(find_file tools/ceph/stop_cluster.sh)"
if [ "$sides" != fio ]; then
  # Private copies: a build in the same workspace while the bench runs cannot swap them.
  for binary in server/blockstored client/blockbench client/blockctl; do
    cp "$(find_file "$binary")" "$tmp_dir/${binary#*/}"
  done
  blockstored="$tmp_dir/blockstored"
  blockbench="$tmp_dir/blockbench"
  blockctl="$tmp_dir/blockctl"
fi

cleanup() {
  local status=$? pids
  # Only this shell's own background jobs that still run: no process id that ended (and could
  # have been reused by the system since) is signalled.
  pids="$(jobs -p)"
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086  # one id per word
    kill $pids 2>/dev/null || true
    # shellcheck disable=SC2086
    { wait $pids; } 2>/dev/null || true
  fi
  # blockstored flushes its volumes on SIGTERM; should a child still run after the wait (once a
  # blockstored outlived this shell), it gets 15 s more and then SIGKILL. `jobs -pr` lists only
  # children this shell has not reaped, so no reused id is signalled; blockstored is also taken
  # by its id while it is still this shell's child, in case the job table lost it.
  for _ in $(seq 150); do
    [ -n "$(jobs -pr)" ] || break
    sleep 0.1
  done
  pids="$(jobs -pr)"
  if [ -n "$bs_pid" ] && [ "$(awk '{print $4}' "/proc/$bs_pid/stat" 2>/dev/null)" = $$ ]; then
    pids="$pids $bs_pid"
  fi
  if [ -n "${pids// /}" ]; then
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null || true
    # shellcheck disable=SC2086
    { wait $pids; } 2>/dev/null || true
  fi
  # The cluster's daemons by the PIDs start_cluster.sh recorded (its watchdog does the same if
  # this shell is killed before it gets here).
  if [ -f "$ceph_dir/.blockstore-ceph-cluster" ]; then
    if [ "${RBD_BENCH_KEEP:-0}" = 1 ]; then
      "$stop_cluster" --keep "$ceph_dir" || true
      echo "rbd_bench: kept the cluster's directory $ceph_dir and the logs in $log_dir" >&2
    else
      "$stop_cluster" "$ceph_dir" || true
    fi
  fi
  if [ "${RBD_BENCH_KEEP:-0}" != 1 ]; then
    rm -rf "$tmp_dir" "$data_dir"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$data_dir"
mkdir -p "$data_dir" "$log_dir"

# ---------------------------------------------------------------------------------------------
# The cluster

# Not `eval "$(start_cluster.sh ...)"`: eval of a failed substitution succeeds, losing its status.
cluster_status=0
cluster_env="$("$start_cluster" --owner-pid $$ "$ceph_dir" 2>"$log_dir/start_cluster.log")" ||
  cluster_status=$?
if [ "$cluster_status" -eq 77 ]; then
  echo "rbd_bench: Ceph is not installed: $(tail -n 1 "$log_dir/start_cluster.log")" >&2
  exit 77
elif [ "$cluster_status" -ne 0 ]; then
  cat "$log_dir/start_cluster.log" >&2
  die "the Ceph cluster did not start (status $cluster_status)"
fi
eval "$cluster_env"  # CEPH_CONF (read by fio's librbd and by rbd) and BLOCKSTORE_CEPH_DIR
[ -f "${CEPH_CONF:-}" ] || die "start_cluster.sh gave no CEPH_CONF"

# Write operations the OSD has received, from its admin socket: how many requests each side's
# writes and flushes became (librbd merges adjacent writes; blockstore writes back pages).
# -1 when the OSD does not answer (the column then shows "-").
osd_writes() {
  local count
  count="$(timeout 10 ceph --conf "$CEPH_CONF" --admin-daemon "$ceph_dir/run/osd.0.asok" \
    perf dump 2>/dev/null | jq -r '.osd.op_w' 2>/dev/null || true)"
  if [[ "$count" =~ ^[0-9]+$ ]]; then echo "$count"; else echo -1; fi
}

# ---------------------------------------------------------------------------------------------
# fio's rbd engine

# Writes a fio version-2 iolog: `writes` writes of 4 KiB at offsets in [0, volume_bytes),
# sequential (wrapping) or uniformly random with a fixed seed, and a sync (rbd_aio_flush) after
# every `flush_every` writes that another write follows, which is where blockbench issues its
# flushes too. A log rather than fio's fsync=N, as in service_bench.sh: fio 3.33 with an async
# engine issues a burst of syncs at each fsync=N boundary (one per free queue slot). The log
# gives exactly the flushes asked for; each holds one of the `depth` slots while it runs, as
# each blockbench Flush does.
write_iolog() {
  local pattern=$1 writes=$2 out=$3
  awk -v pattern="$pattern" -v io_bytes="$io_bytes" -v writes="$writes" \
    -v slots=$((volume_bytes / io_bytes)) -v flush_every="$flush_every" 'BEGIN {
      srand(42)
      print "fio version 2 iolog"
      print "rbd add"
      print "rbd open"
      for (i = 1; i <= writes; i++) {
        slot = (pattern == "seq") ? (i - 1) % slots : int(rand() * slots)
        printf "rbd write %d %d\n", slot * io_bytes, io_bytes
        if (i % flush_every == 0 && i < writes) print "rbd sync 0 0"
      }
      print "rbd close"
    }' >"$out"
}

# Runs round $2 of row $1 through fio; writes "writes seconds p99_us flushes osd_writes" to
# $log_dir/$row.$round.fio.
run_fio() {
  local row=$1 round=$2
  local iolog="$data_dir/$row.iolog" out="$log_dir/fio-$row.$round.json" before after
  [ -f "$iolog" ] || write_iolog "${row_pattern[$row]}" "${row_writes[$row]}" "$iolog"
  before="$(osd_writes)"
  # librbd's settings are Ceph's defaults for a client (the cluster's ceph.conf sets none): its
  # cache on. fio closes the image at the end, which writes back what the cache still holds,
  # outside the job's runtime, as blockstore's writeback after the run is (run_blockbench).
  timeout "$run_limit_seconds" fio --name="$row" --ioengine=rbd --clientname=admin \
    --pool="$pool" --rbdname="$fio_image" --rw=write --bs="$io_bytes" \
    --iodepth="${row_depth[$row]}" --size="$volume_bytes" --read_iolog="$iolog" \
    --replay_no_stall=1 --lat_percentiles=1 --clat_percentiles=0 \
    --percentile_list=50:99:99.9 --output-format=json --output="$out" \
    >"$log_dir/fio-$row.$round.log" 2>&1 ||
    die "fio failed on $row (log: $log_dir/fio-$row.$round.log)"
  after="$(osd_writes)"
  # Writes and wall time of the whole job (flushes included), as blockbench counts them.
  jq -r --argjson osd "$((after >= 0 && before >= 0 ? after - before : -1))" '.jobs[0] |
      if .error != 0 then error("fio error \(.error)") else . end | [
      .write.total_ios, (.job_runtime / 1000),
      (.write.lat_ns.percentile["99.000000"] / 1000),
      .sync.total_ios, $osd] | @tsv' "$out" >"$log_dir/$row.$round.fio" ||
    die "cannot read $out"
}

# ---------------------------------------------------------------------------------------------
# blockstored + blockbench

bs_socket="$tmp_dir/blockstored.sock"

start_blockstored() {
  # Volumes are images of the pool; blockstored turns librbd's cache off (its page cache is the
  # cache). The cache is not prefaulted: the cluster's daemons share these 2 cores and memory.
  # shellcheck disable=SC2086  # RBD_BENCH_SERVER_FLAGS is a list of flags
  "$blockstored" --store=rbd --ceph_conf="$CEPH_CONF" --rbd_pool="$pool" \
    --listen="unix:$bs_socket" --metrics_listen= --prefault_cache=false \
    ${RBD_BENCH_SERVER_FLAGS:-} \
    >"$log_dir/blockstored.out" 2>>"$log_dir/blockstored.log" &
  bs_pid=$!
  for _ in $(seq 600); do
    if grep -q '^blockstored listening on ' "$log_dir/blockstored.out"; then
      return 0
    fi
    kill -0 "$bs_pid" 2>/dev/null || die "blockstored exited (log: $log_dir/blockstored.log)"
    sleep 0.05
  done
  die "blockstored did not start within 30 s (log: $log_dir/blockstored.log)"
}

# Records why the blockstore side of a row has no result; the row then counts as ratio 0.
row_failed() {
  local row=$1 reason=$2 status
  if ! kill -0 "$bs_pid" 2>/dev/null; then
    status=0
    wait "$bs_pid" 2>/dev/null || status=$?
    reason="$reason; blockstored died with status $status$([ "$status" -eq 139 ] &&
      echo ' (SIGSEGV)'), see $log_dir/blockstored.log"
    start_blockstored  # so the next rows still run
  fi
  echo "$reason" >"$log_dir/$row.blockstore.failed"
  echo "rbd_bench: $row: $reason" >&2
}

# Runs round $2 of row $1 through blockbench; writes "writes seconds p99_us flushes osd_writes"
# to $log_dir/$row.$round.blockstore, or the reason it has none to $log_dir/$row.blockstore.failed.
run_blockbench() {
  local row=$1 round=$2 before after
  local out="$log_dir/blockbench-$row.$round.out"
  before="$(osd_writes)"
  # The first run creates the volume (an image with exclusive-lock, like fio's); later runs and
  # rows find it. $out exists before blockbench starts, for the loop below to read.
  : >"$out"
  "$blockbench" --server="unix:$bs_socket" --volume_prefix="$bs_volume_prefix" \
    --pages=$((volume_bytes / io_bytes)) --page_size="$io_bytes" --io_size="$io_bytes" \
    --pattern="${row_pattern[$row]}" --concurrency="${row_depth[$row]}" \
    --count="${row_writes[$row]}" --flush_every="$flush_every" --seed=42 --json \
    >"$out" 2>"$log_dir/blockbench-$row.$round.log" &
  local pid=$! deadline=$((SECONDS + run_limit_seconds)) printed_at=""
  # The results are final once the JSON line is out; gRPC's shutdown at exit once took 10 s
  # more (benchmarks.md, "## Service"), so the process gets a short grace and is then killed.
  while kill -0 "$pid" 2>/dev/null; do
    if [ -z "$printed_at" ] && grep -q '^{"seconds"' "$out"; then printed_at=$SECONDS; fi
    if [ -n "$printed_at" ] && [ $((SECONDS - printed_at)) -ge "$exit_grace_seconds" ]; then
      kill "$pid" 2>/dev/null || true
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      row_failed "$row" "blockbench ran past ${run_limit_seconds} s"
      return 0
    fi
    sleep 0.1
  done
  wait "$pid" 2>/dev/null || true
  # Untimed: what the last writes left dirty is written back before the next run (fio's image
  # close does the same for its side).
  timeout "$run_limit_seconds" "$blockctl" --server="unix:$bs_socket" flush "$bs_volume" \
    >"$log_dir/flush-$row.$round.out" 2>&1 &
  local flush_pid=$! flush_status=0
  wait "$flush_pid" || flush_status=$?
  after="$(osd_writes)"
  if ! grep '^{"seconds"' "$out" | tail -n 1 | jq -e -r \
      --argjson osd "$((after >= 0 && before >= 0 ? after - before : -1))" '
      select(.write.errors == 0 and .flush.errors == 0) |
      [.write.ops, .seconds, .write.p99_us, .flush.ops, $osd] | @tsv' \
      >"$log_dir/$row.$round.blockstore" 2>/dev/null; then
    rm -f "$log_dir/$row.$round.blockstore"
    row_failed "$row" "blockbench: $(grep -v '^\[' "$log_dir/blockbench-$row.$round.log" |
      tail -n 1)"
    return 0
  fi
  if [ "$flush_status" -ne 0 ]; then
    row_failed "$row" "blockctl flush after the run failed: $(tail -n 1 \
      "$log_dir/flush-$row.$round.out")"
  fi
}

# ---------------------------------------------------------------------------------------------
# Main

# A side's rounds of one row: "iops p99_us flushes osd_writes", where iops is all its writes over
# all its time, p99_us the median of the rounds' p99s (percentiles do not add up), flushes and
# osd_writes the rounds' sums. Nothing if a round has no result.
summarize() {
  local row=$1 side=$2 round files=()
  for round in $(seq "$rounds"); do
    [ -f "$log_dir/$row.$round.$side" ] || return 0
    files+=("$log_dir/$row.$round.$side")
  done
  cat "${files[@]}" | LC_ALL=C sort -k3,3g | awk '
    { writes += $1; seconds += $2; p99[NR] = $3; flushes += $4
      if ($5 < 0) osd = -1; else if (osd >= 0) osd += $5 }
    END { if (NR > 0 && seconds > 0)
            printf "%f %f %d %s\n", writes / seconds, p99[int((NR + 1) / 2)], flushes,
              (osd < 0 ? "-" : osd) }'
}

# The IOPS ratio blockstore/fio of each round (the two sides of a round ran back to back),
# comma-separated, or "-".
round_ratios() {
  local row=$1 round ratios="" r
  for round in $(seq "$rounds"); do
    if [ ! -f "$log_dir/$row.$round.blockstore" ] || [ ! -f "$log_dir/$row.$round.fio" ]; then
      continue
    fi
    r="$(paste "$log_dir/$row.$round.blockstore" "$log_dir/$row.$round.fio" |
      awk '{ if ($2 > 0 && $6 > 0 && $7 > 0) printf "%.2f", ($1 / $2) / ($6 / $7)
             else printf "-" }')"
    ratios="${ratios:+$ratios,}$r"
  done
  echo "${ratios:--}"
}

# A number to the unit; anything else ("-", "failed") as it is.
round() {
  awk -v x="$1" 'BEGIN { if (x ~ /^[0-9.]+$/) printf "%.0f", x; else printf "%s", x }'
}

# Ceph's effective client settings (defaults included) for fio's librbd.
client_setting() {
  ceph-conf --conf "$CEPH_CONF" --name client.admin --show-config-value "$1" 2>/dev/null ||
    echo '?'
}

echo "rbd_bench $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) cores" \
  "($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), Linux $(uname -r)," \
  "load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Ceph $(ceph --version | awk '{print $3}'): one mon, one bluestore OSD on a sparse file" \
  "under $tmp_dir; pool $pool, one copy"
echo "$(fio --version) rbd engine (librbd rbd_cache=$(client_setting rbd_cache)," \
  "policy $(client_setting rbd_cache_policy), $(($(client_setting rbd_cache_size) >> 20)) MiB," \
  "max dirty $(($(client_setting rbd_cache_max_dirty) >> 20)) MiB) vs blockstored" \
  "--store=rbd (librbd's cache off) + blockbench on a unix socket; flush every $flush_every writes"
if [ "$sides" != blockstore ]; then
  timeout 60 rbd --conf "$CEPH_CONF" create --size "$((volume_bytes >> 20))M" \
    --image-feature exclusive-lock "$pool/$fio_image" >"$log_dir/rbd-create.log" 2>&1 ||
    die "rbd create $pool/$fio_image failed: $(tail -n 1 "$log_dir/rbd-create.log")"
fi
[ "$sides" = fio ] || start_blockstored

for row in "${rows[@]}"; do
  for round in $(seq "$rounds"); do
    if [ $((round % 2)) -eq 1 ]; then
      [ "$sides" = blockstore ] || run_fio "$row" "$round"
      [ "$sides" = fio ] || [ -f "$log_dir/$row.blockstore.failed" ] ||
        run_blockbench "$row" "$round"
    else
      [ "$sides" = fio ] || [ -f "$log_dir/$row.blockstore.failed" ] ||
        run_blockbench "$row" "$round"
      [ "$sides" = blockstore ] || run_fio "$row" "$round"
    fi
  done
done

echo "$rounds rounds per row, alternating which side runs first; writes, flushes and OSD writes" \
  "are the rounds' sums, IOPS all writes over all time, p99 the rounds' median"
printf '\n%-9s %5s %6s %10s %10s %6s %13s %10s %11s %13s  %s\n' row depth writes IOPS_bstore \
  IOPS_fio ratio p99_us_bstore p99_us_fio flushes osd_writes ratio_by_round
min_ratio=""
notes=()
for row in "${rows[@]}"; do
  bs_iops=- bs_p99=- bs_flushes=- bs_osd=- fio_iops=- fio_p99=- fio_flushes=- fio_osd=- ratio=-
  if [ -f "$log_dir/$row.blockstore.failed" ]; then
    bs_iops=failed ratio=0.00
    notes+=("$row: $(cat "$log_dir/$row.blockstore.failed")")
  else
    read -r bs_iops bs_p99 bs_flushes bs_osd < <(summarize "$row" blockstore; echo "- - - -")
  fi
  read -r fio_iops fio_p99 fio_flushes fio_osd < <(summarize "$row" fio; echo "- - - -")
  if [ "$ratio" = - ] && [ "$bs_iops" != - ] && [ "$fio_iops" != - ]; then
    ratio="$(awk -v a="$bs_iops" -v b="$fio_iops" 'BEGIN { printf "%.2f", a / b }')"
  fi
  printf '%-9s %5d %6d %10s %10s %6s %13s %10s %11s %13s  %s\n' "$row" "${row_depth[$row]}" \
    "$((row_writes[$row] * rounds))" "$(round "$bs_iops")" "$(round "$fio_iops")" "$ratio" \
    "$(round "$bs_p99")" "$(round "$fio_p99")" "$bs_flushes/$fio_flushes" "$bs_osd/$fio_osd" \
    "$(round_ratios "$row")"
  [ "$ratio" != - ] || continue
  if [ -z "$min_ratio" ] || awk -v a="$ratio" -v b="$min_ratio" 'BEGIN { exit !(a < b) }'; then
    min_ratio=$ratio
  fi
done
for note in "${notes[@]+"${notes[@]}"}"; do echo "  $note"; done
# One side only (RBD_BENCH_SIDES) has no ratio.
echo "min ratio vs fio-rbd: ${min_ratio:-n/a}"
