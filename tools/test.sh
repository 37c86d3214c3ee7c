#!/usr/bin/env bash
# The second of README's two commands: installs what is missing and runs every test: the whole
# tree, then the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer, then the
# engine's tests (concurrent writers, flusher and completions included) under ThreadSanitizer,
# then each libFuzzer target for a few seconds (tools/fuzz.sh).
# Ends with the line "N passed, N failed" (test cases, from each test's XML report, and the
# clang-format check of the tree and the fuzz run as one more each).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
tools/install_deps.sh || exit 1

# Tests that also run under ASan+UBSan: the engine and its doubles, the service's reactors
# in process (their lifetimes span gRPC and engine threads), and access control (parsers of
# files an operator writes, reloading threads). Tests tagged no_asan (the rule tests' twins over
# Ceph: the code of their plain runs, which run here, plus Ceph's libraries) are left out.
asan_targets=(//server/common/... //server/cache/... //server/writeback/... //server/io/...
              //server/volume/... //server/service/... //server/security/...)

# Engine tests under ThreadSanitizer, and the service's reactor lifetime (driven on its own by
# test threads: gRPC's libraries are not built for TSan). The engine's locks
# (//server/common:annotated_mutex_lock) bring //server/common:tsan_abseil_support, which makes
# Debian's uninstrumented abseil visible to TSan (docs/design.md).
# Tests tagged no_tsan (those that load Ceph's uninstrumented libraries) are left out.
tsan_targets=(//server/writeback/... //server/volume/... //server/service:reactor_lifetime_test)

passed=0
failed=0
status=0

# Adds the test cases of one `bazel test` run to the totals. Targets that did not build or
# had no report count as one failure each.
count() {
  local log=$1
  local line target xml t f e
  while read -r line; do
    target=$(awk '{print $1}' <<<"$line")
    case "$line" in
      *" PASSED"*|*" FAILED"*|*" TIMEOUT"*|*" FLAKY"*|*" NO STATUS"*|*" SKIPPED"*) ;;
      *) continue ;;
    esac
    xml="bazel-testlogs/$(sed -e 's|^//||' -e 's|:|/|' <<<"$target")/test.xml"
    if [[ "$line" == *" PASSED"* ]] && [ -f "$xml" ]; then
      t=$(grep -o '<testsuites[^>]*tests="[0-9]*"' "$xml" | head -1 | grep -o 'tests="[0-9]*"' | grep -o '[0-9]*')
      f=$(grep -o '<testsuites[^>]*failures="[0-9]*"' "$xml" | head -1 | grep -o 'failures="[0-9]*"' | grep -o '[0-9]*')
      e=$(grep -o '<testsuites[^>]*errors="[0-9]*"' "$xml" | head -1 | grep -o 'errors="[0-9]*"' | grep -o '[0-9]*')
      t=${t:-1}; f=${f:-0}; e=${e:-0}
      [ "$t" -eq 0 ] && t=1
      passed=$((passed + t - f - e))
      failed=$((failed + f + e))
    elif [[ "$line" == *" PASSED"* ]]; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
    fi
  done < <(grep -E '^//[^ ]+ +' "$log")
}

echo "== tools/check_format.sh (every C++ file as clang-format writes it; counts as one test)"
if tools/check_format.sh; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  status=1
fi

log=$(mktemp)
echo "== bazel test //..."
bazel test --test_summary=short //... 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
count "$log"

echo "== bazel test --config=asan (unit tests under ASan+UBSan)"
bazel test --config=asan --test_summary=short --test_tag_filters=-no_asan "${asan_targets[@]}" \
  2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
count "$log"
echo "== bazel test --config=tsan (engine tests under ThreadSanitizer)"
bazel test --config=tsan --test_summary=short --test_tag_filters=-no_tsan "${tsan_targets[@]}" \
  2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
count "$log"
rm -f "$log"

echo "== tools/fuzz.sh 10 (each libFuzzer target 10 s under ASan+UBSan; counts as one test)"
if tools/fuzz.sh 10; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  status=1
fi

echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ] || status=1
exit "$status"
