#!/usr/bin/env bash
# Builds the libFuzzer targets of //server/fuzz with --config=fuzz (clang, ASan+UBSan, coverage)
# and runs each for SECONDS (default 20) from its checked-in seed corpus, then prints per target
# the executions, the coverage reached and the corpus grown. Exits non-zero if a target finds
# anything (a crash, a sanitizer report, a failed check, a hang past -timeout, memory past
# -rss_limit_mb) or does not build; the report and the input are kept in the work directory.
#
#   tools/fuzz.sh                      # 20 s each: volume_config_fuzzer, access_files_fuzzer,
#                                      # service_fuzzer
#   tools/fuzz.sh 600 service_fuzzer   # one target, 10 minutes
#
# Environment: FUZZ_WORK_DIR (default: a new directory under /tmp, removed after a clean run;
# its corpus/<target>/ keeps what the run found), FUZZ_RSS_LIMIT_MB (default 4096),
# FUZZ_BAZEL_STARTUP (startup options for every bazel command, e.g. --output_base=...).
# The seed corpus in server/fuzz/corpus/ is only read. docs/reliability.md, "Fuzzing", has the
# long runs.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

seconds=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(volume_config_fuzzer access_files_fuzzer service_fuzzer)
rss_limit_mb=${FUZZ_RSS_LIMIT_MB:-4096}
read -r -a bazel_startup <<<"${FUZZ_BAZEL_STARTUP:-}"

# Per target: the seed corpus and its libFuzzer flags. The service's inputs are call
# sequences (ServiceProgram): 1 KiB holds its 16 calls with long streams, and libFuzzer's
# default would keep inputs as short as the seeds (133 bytes) for many minutes.
declare -A corpus=([volume_config_fuzzer]=volume_config [access_files_fuzzer]=access_files
                   [service_fuzzer]=service)
declare -A flags=([volume_config_fuzzer]="-max_len=512 -timeout=10"
                  [access_files_fuzzer]="-max_len=2048 -timeout=10"
                  [service_fuzzer]="-max_len=1024 -len_control=0 -timeout=60")
for t in "${targets[@]}"; do
  if [ -z "${corpus[$t]:-}" ]; then
    echo "fuzz: unknown target $t (known: ${!corpus[*]})" >&2
    exit 2
  fi
done

# Debian installs clang without its runtime libraries unless recommended packages come along.
runtime_dir=$(clang --print-runtime-dir 2>/dev/null || true)
if [ ! -f "$runtime_dir/libclang_rt.fuzzer-x86_64.a" ]; then
  echo "fuzz: libFuzzer's runtime is missing (${runtime_dir:-clang not found}); on Debian" \
       "bookworm install libclang-rt-14-dev" >&2
  exit 1
fi

echo "fuzz: building ${targets[*]} (--config=fuzz)"
labels=()
for t in "${targets[@]}"; do labels+=("//server/fuzz:$t"); done
if ! bazel "${bazel_startup[@]}" build --config=fuzz "${labels[@]}"; then
  echo "fuzz: the build failed" >&2
  exit 1
fi
# The bazel-bin symlink follows whichever build ran last in this tree; ask for this one's.
bin=$(bazel "${bazel_startup[@]}" info --config=fuzz bazel-bin 2>/dev/null)

work=${FUZZ_WORK_DIR:-}
keep_work=1
if [ -z "$work" ]; then
  work=$(mktemp -d /tmp/blockstore-fuzz.XXXXXX)
  keep_work=0
fi
mkdir -p "$work"

status=0
for t in "${targets[@]}"; do
  dir="$work/corpus/$t"
  mkdir -p "$dir" "$work/artifacts" "$work/tmp"
  log="$work/$t.log"
  echo "fuzz: $t for ${seconds}s (log $log)"
  # The first directory receives what the run finds; the seeds are read from the second.
  # TMPDIR: the service fuzzer's data directory goes there.
  # shellcheck disable=SC2086  # flags holds several words
  TMPDIR="$work/tmp" "$bin/server/fuzz/$t" ${flags[$t]} -max_total_time="$seconds" \
    -rss_limit_mb="$rss_limit_mb" -print_final_stats=1 -artifact_prefix="$work/artifacts/$t-" \
    "$dir" "server/fuzz/corpus/${corpus[$t]}" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
  if [ "$rc" -eq 0 ] && grep -q '^Done [0-9]* runs in' "$log"; then
    echo "fuzz: $t OK: ${execs:-?} execs (${rate:-?}/s), cov ${cov:-?}, ft ${ft:-?}," \
         "corpus ${corp:-?}, peak rss ${rss:-?} MB"
  else
    status=1
    keep_work=1
    echo "fuzz: $t FAILED (exit $rc) after ${execs:-?} execs; what it found:"
    # -a: the report quotes the input's bytes, which makes grep call the log binary.
    grep -aE 'Check failed|runtime error:|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|SUMMARY:' \
      "$log" | head -8 | cut -c1-600 | sed 's/^/  /'
    echo "fuzz: the end of its report:"
    grep -av '^#[0-9]' "$log" | grep -av '^ *#[0-9]* 0x' | tail -12 | cut -c1-300 | sed 's/^/  /'
    for a in "$work/artifacts/$t-"*; do
      [ -e "$a" ] && echo "fuzz: input: $a (replay: $bin/server/fuzz/$t $a)"
    done
  fi
done

if [ "$keep_work" -eq 1 ]; then
  echo "fuzz: work directory kept: $work"
else
  rm -rf "$work"
fi
exit "$status"
