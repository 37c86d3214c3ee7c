#!/usr/bin/env bash
# The first of README's two commands: installs what is missing, builds blockstored and starts it
# on the embedded default: gRPC on 127.0.0.1:7420, metrics on 127.0.0.1:9420, data under
# ./data/blockstore in the working tree. Extra arguments go to blockstored (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
bazel build -c opt //server:blockstored //client:blockctl
mkdir -p data
exec bazel-bin/server/blockstored --data_dir="$PWD/data/blockstore" "$@"
