#!/bin/bash
# A short run of grpc_floor_bench (every row, one round of 300 round trips): each row must
# print a table line that counts all 300 round trips as done (a row whose round trips fail
# exits the bench; one that stalls is cut at the bench's time limit and counts fewer), so the
# bench behind "The transport's floor" in docs/benchmarks.md keeps working. No timing is checked.
set -euo pipefail
bench=$1
# The bench's unix socket lives in TMPDIR: a short path keeps it under sun_path's 108 bytes.
TMPDIR=$(mktemp -d /tmp/gfb.XXXXXX)
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
if ! out=$("$bench" --ops=300 --rounds=1 2>&1); then
  echo "$out"
  echo "FAIL: grpc_floor_bench exited with an error"
  exit 1
fi
echo "$out"
for row in socket grpc_bidi grpc_chain grpc_cq grpc_unary grpc_async; do
  line=$(grep -m1 "^$row " <<<"$out") || { echo "FAIL: no table line for $row"; exit 1; }
  read -r _ bytes done _ <<<"$line"
  if [ "$bytes" != 4096 ] || [ "$done" != 300 ]; then
    echo "FAIL: $row: $line (expected 4096-byte messages and 300 round trips done)"
    exit 1
  fi
done
echo "PASS"
