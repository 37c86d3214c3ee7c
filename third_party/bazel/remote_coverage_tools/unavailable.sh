#!/bin/sh
echo "remote_coverage_tools is a stand-in: bazel coverage is not available offline (see docs/build.md)" >&2
exit 1
