#!/bin/bash
# A short run of grpc_floor_bench (every row, one round of 300 round trips): each row must
# finish and print a table line with round trips done and a rate above zero, so the bench
# behind "The transport's floor" in docs/benchmarks.md keeps working. No timing is checked.
set -euo pipefail
bench=$1
out=$("$bench" --ops=300 --rounds=1 2>/dev/null)
echo "$out"
for row in socket grpc_bidi grpc_chain grpc_cq grpc_unary grpc_async; do
  line=$(grep "^$row " <<<"$out") || { echo "FAIL: no table line for $row"; exit 1; }
  read -r _ bytes ops p50 _ per_second _ <<<"$line"
  if [ "$bytes" != 4096 ] || [ "$ops" != 300 ] || [ "${per_second%.*}" -le 0 ] ||
    [ "$(awk -v p="$p50" 'BEGIN { print (p > 0) }')" != 1 ]; then
    echo "FAIL: $row: $line"
    exit 1
  fi
done
echo "PASS"
