#ifndef BLOCKSTORE_SERVER_INTEGRATION_RUNFILE_BINARY_H_
#define BLOCKSTORE_SERVER_INTEGRATION_RUNFILE_BINARY_H_

// Where a harness binary (crash_harness, soak) finds a binary it has as data, such as
// server/blockstored: in its runfiles whether it runs from bazel-bin, under `bazel run`, or under
// `bazel test`.

#include <string>

#include "absl/strings/string_view.h"

namespace blockstore {

// The first executable of: $RUNFILES_DIR/blockstore/<path>, <argv0>.runfiles/blockstore/<path>,
// RunfilePath(<path>) (TEST_SRCDIR). The last one when none is executable, so the caller's
// error names a path.
std::string FindRunfileBinary(const char* argv0, absl::string_view path);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_INTEGRATION_RUNFILE_BINARY_H_
