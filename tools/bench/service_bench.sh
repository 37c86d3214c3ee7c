#!/usr/bin/env bash
# service_bench: blockstored driven by blockbench, beside nbdkit's file plugin driven by fio's nbd
# engine, at the same queue depth, IO size, total bytes and flush pattern, in one bounded run.
# Usage: bazel run -c opt //tools/bench:service_bench
# Prints one row per workload (IOPS and p99 latency for both, and the IOPS ratio) and ends
# with the line `min ratio vs nbdkit: X.XX`. Each row runs in rounds that alternate which side
# goes first (nbdkit, blockstore; blockstore, nbdkit; ...), so a disk that speeds up or slows
# down over the run (this VM's disk moves by up to 40 % within a minute) weighs on both sides
# alike. Both servers listen on unix sockets only; every process it starts is killed on exit.
# Method and results: docs/benchmarks.md, "## Service".
#
# Environment (all optional):
#   SERVICE_BENCH_ROWS    rows to run, e.g. "rand4k32 seq4k32" (default: all, see all_rows)
#   SERVICE_BENCH_WRITES  operations per 4 KiB depth-32 row and round (default 65536: the volume's
#                         256 MiB)
#   SERVICE_BENCH_ROUNDS  rounds per row (default 3); each side runs the row's writes once a round
#   SERVICE_BENCH_FLUSH   a flush after every this many writes (default 256: every 1 MiB of 4 KiB)
#   SERVICE_BENCH_SIDES   "both" (default), "nbdkit" or "blockstore"
#   SERVICE_BENCH_KEEP    1 keeps the data directory and the logs after the run
#   SERVICE_BENCH_SERVER_FLAGS  more blockstored flags, e.g. "--thin" (default: none)
set -euo pipefail

readonly workspace="${BUILD_WORKSPACE_DIRECTORY:-$PWD}"
readonly data_dir="${workspace}/data/bench-service"
readonly log_dir="${data_dir}/logs"
readonly writes_4k="${SERVICE_BENCH_WRITES:-65536}"
readonly flush_every="${SERVICE_BENCH_FLUSH:-256}"
readonly sides="${SERVICE_BENCH_SIDES:-both}"
readonly rounds="${SERVICE_BENCH_ROUNDS:-3}"
readonly run_limit_seconds=60  # one blockbench or fio run
readonly exit_grace_seconds=2  # after blockbench printed its results (see run_blockbench)
readonly fill_limit_seconds=300  # writing the miss rows' 1 GiB volume (untimed)

# Rows: pattern, IO size, queue depth, operations, and the share of them that are reads. The
# rows of one volume key share one blockstore volume and one nbdkit file: "4k" and "64k" are
# 256 MiB of 4 KiB and 64 KiB pages, "miss4k" 1 GiB of 4 KiB pages, four times blockstored's
# 256 MiB cache. The sequential row of a key comes first, so both sides start sparse and both
# allocate every block during that row. The hit rows (rread4k32, rread4k1: random 4 KiB page
# reads) and the 70/30 mix (mix4k32) read what the 4 KiB write rows wrote, so they come after
# them: both sides then read from their caches (blockstored's page cache holds the 256 MiB
# volume; nbdkit's file is in the host's page cache). The miss rows (rmiss4k32, rmiss4k1) read a
# 1 GiB volume both sides filled before them (untimed), each round from a cold cache:
# blockstored is restarted and the host's page cache dropped before it, so reads go to the disk
# on both sides (they need root for /proc/sys/vm/drop_caches, and are skipped without it).
# seq1m8 writes 1 MiB at a time at depth 8: for blockstore one operation of 16 consecutive 64 KiB
# pages, done when the last is (blockbench --io_size=1M), for nbdkit one 1 MiB NBD write.
all_rows=(seq4k32 rand4k32 rand4k1 rread4k32 rread4k1 mix4k32 rmiss4k32 rmiss4k1 seq64k32
  seq1m8)
declare -A row_pattern=([seq4k32]=seq [rand4k32]=rand [rand4k1]=rand [rread4k32]=rand
  [rread4k1]=rand [mix4k32]=rand [rmiss4k32]=rand [rmiss4k1]=rand [seq64k32]=seq [seq1m8]=seq)
declare -A row_io_bytes=([seq4k32]=4096 [rand4k32]=4096 [rand4k1]=4096 [rread4k32]=4096
  [rread4k1]=4096 [mix4k32]=4096 [rmiss4k32]=4096 [rmiss4k1]=4096 [seq64k32]=65536
  [seq1m8]=1048576)
declare -A row_depth=([seq4k32]=32 [rand4k32]=32 [rand4k1]=1 [rread4k32]=32 [rread4k1]=1
  [mix4k32]=32 [rmiss4k32]=32 [rmiss4k1]=1 [seq64k32]=32 [seq1m8]=8)
declare -A row_read_percent=([seq4k32]=0 [rand4k32]=0 [rand4k1]=0 [rread4k32]=100
  [rread4k1]=100 [mix4k32]=70 [rmiss4k32]=100 [rmiss4k1]=100 [seq64k32]=0 [seq1m8]=0)
declare -A row_key=([seq4k32]=4k [rand4k32]=4k [rand4k1]=4k [rread4k32]=4k [rread4k1]=4k
  [mix4k32]=4k [rmiss4k32]=miss4k [rmiss4k1]=miss4k [seq64k32]=64k [seq1m8]=64k)
declare -A key_page_bytes=([4k]=4096 [64k]=65536 [miss4k]=4096)
declare -A key_volume_bytes=([4k]=$((256 << 20)) [64k]=$((256 << 20)) [miss4k]=$((1 << 30)))
# Depth 1 pays a round trip per operation, and larger writes move more bytes: fewer operations
# keep those rows to seconds. Each row's total is the same for both servers.
declare -A row_writes=([seq4k32]="$writes_4k" [rand4k32]="$writes_4k"
  [rand4k1]=$((writes_4k / 8)) [rread4k32]="$writes_4k" [rread4k1]=$((writes_4k / 8))
  [mix4k32]="$writes_4k" [rmiss4k32]=$((writes_4k / 2)) [rmiss4k1]=$((writes_4k / 16))
  [seq64k32]=$((writes_4k / 16)) [seq1m8]=$((writes_4k / 256)))
# A flush after every flush_every writes, or, for 1 MiB writes, after as many bytes as the
# 64 KiB row writes between two flushes (16 MiB by default).
declare -A row_flush_every=()
for row in "${all_rows[@]}"; do row_flush_every[$row]="$flush_every"; done
row_flush_every[seq1m8]=$(((flush_every + 15) / 16))
read -r -a rows <<<"${SERVICE_BENCH_ROWS:-${all_rows[*]}}"
# The smallest row runs SERVICE_BENCH_WRITES / 256 operations (seq1m8): at least one.
[[ "$writes_4k" =~ ^[0-9]+$ ]] && [ "$writes_4k" -ge 256 ] || {
  echo "service_bench: SERVICE_BENCH_WRITES must be at least 256, got '$writes_4k'" >&2
  exit 1
}
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || {
  echo "service_bench: SERVICE_BENCH_ROUNDS must be a positive count, got '$rounds'" >&2
  exit 1
}
for row in "${rows[@]}"; do
  [ -n "${row_pattern[$row]:-}" ] || {
    echo "service_bench: unknown row $row (rows: ${all_rows[*]})" >&2
    exit 1
  }
done
# The miss rows drop the host's page cache before each nbdkit run, which only root may do.
if [ "$sides" != blockstore ] && [ ! -w /proc/sys/vm/drop_caches ]; then
  kept=()
  for row in "${rows[@]}"; do
    if [ "${row_key[$row]}" = miss4k ]; then
      echo "service_bench: skipping $row: it needs root to drop the host's page cache" >&2
    else
      kept+=("$row")
    fi
  done
  rows=("${kept[@]}")
fi

die() {
  echo "service_bench: $*" >&2
  exit 1
}

clock_ticks="$(getconf CLK_TCK)"
readonly clock_ticks

# CPU seconds (user + system) process $1 has used so far, from /proc ("-" if it is gone: nbdkit
# sometimes aborts when fio closes the connection, see start_nbdkit, and its CPU is then unknown).
cpu_seconds() {
  awk -v hz="$clock_ticks" '{
      sub(/^.*\) /, "")  # the command name may hold spaces: fields count from the state
      printf "%.4f\n", ($12 + $13) / hz
    }' "/proc/$1/stat" 2>/dev/null || echo -
}

# Binaries come from the runfiles tree under `bazel run` (the working directory is its
# workspace directory), else from bazel-bin when the script is run by hand.
find_binary() {
  local path=$1 base
  for base in "${RUNFILES_DIR:-}/blockstore" "$0.runfiles/blockstore" "$PWD" \
    "${workspace}/bazel-bin"; do
    if [ -x "$base/$path" ]; then
      echo "$base/$path"
      return 0
    fi
  done
  die "$path not found: run with bazel run -c opt //tools/bench:service_bench"
}

for tool in nbdkit fio jq awk timeout truncate; do
  command -v "$tool" >/dev/null || die "$tool not found (tools/install_deps.sh installs it)"
done
# Sockets live in a short private directory (a unix socket path is limited to 108 bytes); the
# data lives on the workspace's file system, as the issue asks.
socket_dir="$(mktemp -d /tmp/service_bench.XXXXXX)"
if [ "$sides" != nbdkit ]; then
  # Private copies: a build in the same workspace while the bench runs cannot swap them.
  for binary in server/blockstored client/blockbench client/blockctl; do
    cp "$(find_binary "$binary")" "$socket_dir/${binary#*/}"
  done
  blockstored="$socket_dir/blockstored"
  blockbench="$socket_dir/blockbench"
  blockctl="$socket_dir/blockctl"
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

# Writes a fio version-2 iolog: `ops` operations of `io_bytes` at offsets in [0, volume_bytes),
# sequential (wrapping) or uniformly random with a fixed seed, `read_percent` of them reads
# (drawn per operation) and the rest writes, and an NBD FLUSH after every `flush_every` writes
# that another operation follows, which is where blockbench issues its flushes too. A log rather than fio's fsync=N: fio 3.33 with an async engine issues a burst
# of syncs at each fsync=N boundary (one per free queue slot, ~27 at depth 32: it decides
# "time to sync" again until the first sync completes), and the nbd engine refuses
# fdatasync=N (EINVAL). The log gives exactly the flushes asked for; each holds one of the
# `depth` slots while it runs, as each blockbench Flush does.
write_iolog() {
  local pattern=$1 io_bytes=$2 ops=$3 read_percent=$4 volume_bytes=$5 every=$6 out=$7
  awk -v pattern="$pattern" -v io_bytes="$io_bytes" -v ops="$ops" \
    -v read_percent="$read_percent" -v slots=$((volume_bytes / io_bytes)) \
    -v flush_every="$every" 'BEGIN {
      srand(42)
      print "fio version 2 iolog"
      print "nbd add"
      print "nbd open"
      writes = 0
      for (i = 1; i <= ops; i++) {
        slot = (pattern == "seq") ? (i - 1) % slots : int(rand() * slots)
        if (read_percent > 0 && int(rand() * 100) < read_percent) {
          printf "nbd read %d %d\n", slot * io_bytes, io_bytes
          continue
        }
        printf "nbd write %d %d\n", slot * io_bytes, io_bytes
        if (++writes % flush_every == 0 && i < ops) print "nbd sync 0 0"
      }
      print "nbd close"
    }' >"$out"
}

# The file behind volume key $1.
nbd_image() { echo "$data_dir/nbdkit-$1.img"; }

# A fresh nbdkit for each fio run: when fio's job ends it closes the connection with up to a
# queue's worth of requests unanswered, and nbdkit 1.32.5 can then abort on its next reply
# (connections.c: raw_send_socket: Assertion `sock >= 0' failed).
nbd_socket="$socket_dir/nbd.sock"
nbd_pid=""

start_nbdkit() {
  local image
  image="$(nbd_image "$1")"
  # Sparse, like blockstored's volume files (ftruncate): both start from the same state.
  [ -f "$image" ] || truncate -s "${key_volume_bytes[$1]}" "$image"
  rm -f "$nbd_socket"
  nbdkit --exit-with-parent -f -U "$nbd_socket" file "$image" 2>>"$log_dir/nbdkit.log" &
  nbd_pid=$!
  for _ in $(seq 100); do
    [ -S "$nbd_socket" ] && return 0
    sleep 0.05
  done
  die "nbdkit did not create $nbd_socket within 5 s (log: $log_dir/nbdkit.log)"
}

stop_nbdkit() {
  kill "$nbd_pid" 2>/dev/null || true
  # The braces keep bash's own "Aborted" notice (the assertion above) out of the output.
  { wait "$nbd_pid"; } 2>/dev/null || true
}

# The p99 a row reports: of its reads when they are most of it, else of its writes.
p99_of() { if [ "${row_read_percent[$1]}" -ge 50 ]; then echo read; else echo write; fi; }

# Runs round $2 of row $1 through fio; writes "ops seconds p99_us flushes server_cpu_seconds"
# to $log_dir/$row.$round.nbdkit (nbdkit's CPU over its life, which is this run).
run_fio() {
  local row=$1 round=$2 io_bytes=${row_io_bytes[$1]} key=${row_key[$1]} rw=write
  local iolog="$data_dir/$row.iolog" out="$log_dir/fio-$row.$round.json"
  case "${row_read_percent[$row]}" in 0) rw="write" ;; 100) rw="read" ;; *) rw="readwrite" ;; esac
  if is_miss_row "$row"; then
    # From the disk: what earlier rounds or the fill left in the host's page cache goes.
    sync
    echo 3 >/proc/sys/vm/drop_caches || die "cannot drop the page cache for $row"
  fi
  start_nbdkit "$key"
  [ -f "$iolog" ] || write_iolog "${row_pattern[$row]}" "$io_bytes" "${row_writes[$row]}" \
    "${row_read_percent[$row]}" "${key_volume_bytes[$key]}" "${row_flush_every[$row]}" "$iolog"
  timeout "$run_limit_seconds" fio --name="$row" --ioengine=nbd \
    --uri="nbd+unix:///?socket=$nbd_socket" --rw="$rw" --bs="$io_bytes" \
    --iodepth="${row_depth[$row]}" --size="${key_volume_bytes[$key]}" --read_iolog="$iolog" \
    --replay_no_stall=1 --lat_percentiles=1 --clat_percentiles=0 \
    --percentile_list=50:99:99.9 --output-format=json --output="$out" \
    >"$log_dir/fio-$row.$round.log" 2>&1 ||
    die "fio failed on $row (log: $log_dir/fio-$row.$round.log)"
  local server_cpu
  server_cpu="$(cpu_seconds "$nbd_pid")"
  stop_nbdkit
  # Untimed: what the last writes left in the host page cache is written before the next run.
  sync "$(nbd_image "$key")"
  # Reads + writes and wall time of the whole job (flushes included), as blockbench counts them.
  jq -r --arg p99 "$(p99_of "$row")" --arg cpu "$server_cpu" '.jobs[0] |
      if .error != 0 then error("fio error \(.error)") else . end | [
      (.read.total_ios + .write.total_ios), (.job_runtime / 1000),
      (.[$p99].lat_ns.percentile["99.000000"] / 1000),
      .sync.total_ios, $cpu] | @tsv' "$out" >"$log_dir/$row.$round.nbdkit" ||
    die "cannot read $out"
}

# ---------------------------------------------------------------------------------------------
# blockstored + blockbench

bs_socket="$socket_dir/blockstored.sock"

bs_pid=""

start_blockstored() {
  # The server's defaults otherwise: the cache, dirty limits and flusher a newcomer gets.
  # Volumes persist in the data directory, so a restart (after a crash) finds them again.
  : >"$log_dir/blockstored.out"  # before the server starts, so the wait below can read it
  # shellcheck disable=SC2086  # SERVICE_BENCH_SERVER_FLAGS is a list of flags
  "$blockstored" --listen="unix:$bs_socket" --data_dir="$data_dir/blockstored" \
    --metrics_listen= ${SERVICE_BENCH_SERVER_FLAGS:-} \
    >"$log_dir/blockstored.out" 2>>"$log_dir/blockstored.log" &
  bs_pid=$!
  for _ in $(seq 200); do
    if grep -q '^blockstored listening on ' "$log_dir/blockstored.out"; then
      return 0
    fi
    kill -0 "$bs_pid" 2>/dev/null || die "blockstored exited (log: $log_dir/blockstored.log)"
    sleep 0.05
  done
  die "blockstored did not start within 10 s (log: $log_dir/blockstored.log)"
}

# SIGTERM writes back and closes every volume; then a new blockstored on the same data.
restart_blockstored() {
  kill -TERM "$bs_pid" 2>/dev/null || true
  wait "$bs_pid" 2>/dev/null || true
  start_blockstored
}

is_miss_row() { [ "${row_key[$1]}" = miss4k ]; }

# Untimed, before the first miss row: both sides' 1 GiB volume gets written once in full, so
# the miss rows read data from the disk, not holes the file system answers without it.
fill_miss_volumes() {
  local bytes=${key_volume_bytes[miss4k]}
  if [ "$sides" != blockstore ]; then
    head -c "$bytes" /dev/urandom >"$(nbd_image miss4k)"
  fi
  if [ "$sides" != nbdkit ]; then
    timeout "$fill_limit_seconds" "$blockbench" --server="unix:$bs_socket" \
      --volume_prefix=svcmiss4k --pages=$((bytes / 4096)) --page_size=4K --io_size=64K \
      --pattern=seq --concurrency=8 --count=$((bytes / 65536)) --flush_every=64 \
      >"$log_dir/fill-miss4k.out" 2>&1 || die "filling the miss rows' volume failed (log:" \
      "$log_dir/fill-miss4k.out)"
    timeout "$run_limit_seconds" "$blockctl" --server="unix:$bs_socket" flush svcmiss4k-0 \
      >>"$log_dir/fill-miss4k.out" 2>&1 || die "flushing the miss rows' volume failed"
  fi
  sync
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
  echo "service_bench: $row: $reason" >&2
}

# Runs round $2 of row $1 through blockbench; writes "ops seconds p99_us flushes
# server_cpu_seconds" (blockstored's CPU while blockbench ran) to
# $log_dir/$row.$round.blockstore, or the reason it has none to $log_dir/$row.blockstore.failed.
run_blockbench() {
  local row=$1 round=$2 io_bytes=${row_io_bytes[$1]} key=${row_key[$1]}
  local out="$log_dir/blockbench-$row.$round.out" volume="svc$key"
  local page_bytes=${key_page_bytes[$key]}
  local cpu_before server_cpu
  # From the disk: a fresh blockstored has an empty cache (the volume is 4 times its size).
  if is_miss_row "$row"; then restart_blockstored; fi
  cpu_before="$(cpu_seconds "$bs_pid")"
  : >"$out"  # before blockbench starts, so the wait below can read it
  "$blockbench" --server="unix:$bs_socket" --volume_prefix="$volume" \
    --pages=$((key_volume_bytes[$key] / page_bytes)) --page_size="$page_bytes" \
    --io_size="$io_bytes" --pattern="${row_pattern[$row]}" --concurrency="${row_depth[$row]}" \
    --read_percent="${row_read_percent[$row]}" \
    --count="${row_writes[$row]}" --flush_every="${row_flush_every[$row]}" --seed=42 --json \
    >"$out" 2>"$log_dir/blockbench-$row.$round.log" &
  local pid=$! deadline=$((SECONDS + run_limit_seconds)) printed_at=""
  # The results are final once the JSON line is out. gRPC's shutdown at exit once took up to
  # 10 s more (an executor thread in a 10 s epoll_wait; not seen since, see benchmarks.md), so
  # the process gets a short grace and is then killed rather than waited for.
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
  server_cpu="$(awk -v a="$(cpu_seconds "$bs_pid")" -v b="$cpu_before" \
    'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%.4f", a - b }')"
  if ! grep '^{"seconds"' "$out" | tail -n 1 | jq -e -r --arg p99 "$(p99_of "$row")" \
      --arg cpu "$server_cpu" '
      select(.write.errors == 0 and .read.errors == 0 and .flush.errors == 0) |
      [(.read.ops + .write.ops), .seconds, .[$p99].p99_us, .flush.ops, $cpu] | @tsv' \
      >"$log_dir/$row.$round.blockstore" 2>/dev/null; then
    rm -f "$log_dir/$row.$round.blockstore"
    row_failed "$row" "blockbench: $(grep -v '^\[' "$log_dir/blockbench-$row.$round.log" |
      tail -n 1)"
    return 0
  fi
  # Untimed: what the last writes left dirty is written back before the next run.
  timeout "$run_limit_seconds" "$blockctl" --server="unix:$bs_socket" flush "$volume-0" \
    >"$log_dir/flush-$row.$round.out" 2>&1 &
  local flush_pid=$!
  wait "$flush_pid" || row_failed "$row" "blockctl flush after the run failed: $(tail -n 1 \
    "$log_dir/flush-$row.$round.out")"
}

# ---------------------------------------------------------------------------------------------
# Main

# A side's rounds of one row: "iops p99_us flushes cpu_us", where iops is all its operations
# (reads and writes) over all its time, p99_us the median of the rounds' p99s (percentiles do
# not add up), and cpu_us the server's CPU microseconds per operation. Nothing if a round has no
# result.
summarize() {
  local row=$1 side=$2 round files=()
  for round in $(seq "$rounds"); do
    [ -f "$log_dir/$row.$round.$side" ] || return 0
    files+=("$log_dir/$row.$round.$side")
  done
  cat "${files[@]}" | LC_ALL=C sort -k3,3g | awk '
    { ops += $1; seconds += $2; p99[NR] = $3; flushes += $4
      if ($5 == "-") cpu_unknown = 1; else cpu += $5 }
    END { if (NR > 0 && seconds > 0 && ops > 0)
            printf "%f %f %d %s\n", ops / seconds, p99[int((NR + 1) / 2)], flushes,
              cpu_unknown ? "-" : sprintf("%f", cpu * 1e6 / ops) }'
}

# The IOPS ratio blockstore/nbdkit of each round (the two sides of a round ran back to back),
# comma-separated, or "-".
round_ratios() {
  local row=$1 round ratios="" r
  for round in $(seq "$rounds"); do
    [ -f "$log_dir/$row.$round.blockstore" ] && [ -f "$log_dir/$row.$round.nbdkit" ] || continue
    r="$(paste "$log_dir/$row.$round.blockstore" "$log_dir/$row.$round.nbdkit" |
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

# The same to a tenth.
round1() {
  awk -v x="$1" 'BEGIN { if (x ~ /^[0-9.]+$/) printf "%.1f", x; else printf "%s", x }'
}

fs_type="$(findmnt -n -o FSTYPE -T "$data_dir" 2>/dev/null || stat -f -c %T "$data_dir")"
echo "service_bench $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) cores" \
  "($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), Linux $(uname -r)," \
  "$fs_type at $data_dir"
echo "nbdkit $(nbdkit --version | awk '{print $2}') file plugin + $(fio --version) nbd engine" \
  "vs blockstored + blockbench, both on unix sockets; flush every $flush_every writes" \
  "(every ${row_flush_every[seq1m8]} in seq1m8)"
[ "$sides" = nbdkit ] || start_blockstored

filled_miss=0
for row in "${rows[@]}"; do
  if is_miss_row "$row" && [ "$filled_miss" = 0 ]; then
    fill_miss_volumes
    filled_miss=1
  fi
  for round in $(seq "$rounds"); do
    if [ $((round % 2)) -eq 1 ]; then
      [ "$sides" = blockstore ] || run_fio "$row" "$round"
      [ "$sides" = nbdkit ] || [ -f "$log_dir/$row.blockstore.failed" ] ||
        run_blockbench "$row" "$round"
    else
      [ "$sides" = nbdkit ] || [ -f "$log_dir/$row.blockstore.failed" ] ||
        run_blockbench "$row" "$round"
      [ "$sides" = blockstore ] || run_fio "$row" "$round"
    fi
  done
done

echo "$rounds rounds per row, alternating which side runs first; ops (reads + writes) and" \
  "flushes are the rounds' sums, IOPS all ops over all time, p99 the rounds' median (of reads" \
  "in the read and mixed rows, of writes otherwise), cpu_us each server's CPU microseconds per op"
printf '\n%-9s %5s %5s %6s %12s %12s %6s %13s %13s %13s %13s %11s  %s\n' row io_KiB depth ops \
  IOPS_bstore IOPS_nbdkit ratio p99_us_bstore p99_us_nbdkit cpu_us_bstore cpu_us_nbdkit \
  flushes ratio_by_round
min_ratio=""
notes=()
for row in "${rows[@]}"; do
  bs_iops=- bs_p99=- bs_flushes=- bs_cpu=- nbd_iops=- nbd_p99=- nbd_flushes=- nbd_cpu=- ratio=-
  if [ -f "$log_dir/$row.blockstore.failed" ]; then
    bs_iops=failed ratio=0.00
    notes+=("$row: $(cat "$log_dir/$row.blockstore.failed")")
  else
    read -r bs_iops bs_p99 bs_flushes bs_cpu < <(summarize "$row" blockstore; echo "- - - -")
  fi
  read -r nbd_iops nbd_p99 nbd_flushes nbd_cpu < <(summarize "$row" nbdkit; echo "- - - -")
  if [ "$ratio" = - ] && [ "$bs_iops" != - ] && [ "$nbd_iops" != - ]; then
    ratio="$(awk -v a="$bs_iops" -v b="$nbd_iops" 'BEGIN { printf "%.2f", a / b }')"
  fi
  printf '%-9s %5d %5d %6d %12s %12s %6s %13s %13s %13s %13s %11s  %s\n' "$row" \
    $((row_io_bytes[$row] / 1024)) "${row_depth[$row]}" "$((row_writes[$row] * rounds))" \
    "$(round "$bs_iops")" "$(round "$nbd_iops")" "$ratio" "$(round "$bs_p99")" \
    "$(round "$nbd_p99")" "$(round1 "$bs_cpu")" "$(round1 "$nbd_cpu")" \
    "$bs_flushes/$nbd_flushes" "$(round_ratios "$row")"
  [ "$ratio" != - ] || continue
  if [ -z "$min_ratio" ] || awk -v a="$ratio" -v b="$min_ratio" 'BEGIN { exit !(a < b) }'; then
    min_ratio=$ratio
  fi
done
for note in "${notes[@]}"; do echo "  $note"; done
# One side only (SERVICE_BENCH_SIDES) has no ratio.
echo "min ratio vs nbdkit: ${min_ratio:-n/a}"
