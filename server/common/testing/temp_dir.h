#ifndef BLOCKSTORE_SERVER_COMMON_TESTING_TEMP_DIR_H_
#define BLOCKSTORE_SERVER_COMMON_TESTING_TEMP_DIR_H_

// Scratch directories for tests (testonly).

#include <string>

#include "absl/strings/string_view.h"

namespace blockstore {

// Where a test may write: $TEST_TMPDIR (bazel test sets it, per test target), else /tmp.
std::string TestTempRoot();

// A new, empty directory that the test owns, removed with everything in it when the TempDir is
// destroyed (also when an ASSERT ends the test early). Its name is the running test's name (or
// `prefix`) and a unique suffix (mkdtemp), so tests, shards and reruns never meet. The path may
// be handed to other threads and processes; the object itself is not thread-safe.
class TempDir {
 public:
  // Under TestTempRoot(), named after the running gtest test ("tmp" outside a test).
  TempDir();
  // Under `root` (TestTempRoot() when empty), named `prefix` and a suffix: for a path that must
  // stay short (a unix socket's sun_path holds 108 bytes, $TEST_TMPDIR may be longer).
  // CHECK-fails if the directory cannot be made: no test can go on without it.
  explicit TempDir(absl::string_view prefix, absl::string_view root = "");
  ~TempDir();

  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // The directory, without a trailing slash.
  const std::string& path() const { return path_; }
  // `name` inside the directory (nothing is created).
  std::string File(absl::string_view name) const;

 private:
  std::string path_;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_COMMON_TESTING_TEMP_DIR_H_
