#!/usr/bin/env bash
# service_bench: blockstored driven by blockbench, beside nbdkit's file plugin driven by fio's nbd
# engine, at the same queue depth, IO size, total bytes and flush pattern, in one bounded run.
# Usage: bazel run -c opt //tools/bench:service_bench
# Prints one row per workload (IOPS and p99 latency for both, and the IOPS ratio) and ends with
# the line `min ratio vs nbdkit: X.XX`. Servers bind only 127.0.0.1 or unix sockets; every process
# it starts is killed on exit.
set -euo pipefail
