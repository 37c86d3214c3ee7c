#ifndef BLOCKSTORE_SERVER_IO_TESTING_DIRECT_TEMP_FILE_H_
#define BLOCKSTORE_SERVER_IO_TESTING_DIRECT_TEMP_FILE_H_

// A scratch file opened with O_DIRECT, as the server opens volumes (testonly).

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/common/testing/temp_dir.h"

namespace blockstore {

// A new file of `size_bytes` (zeros) in a TempDir of its own, open O_RDWR | O_DIRECT; closed and
// removed on destruction. Some file systems (tmpfs, some overlays) refuse O_DIRECT; a test that
// needs real O_DIRECT semantics skips there:
//
//   absl::StatusOr<std::unique_ptr<DirectTempFile>> file = DirectTempFile::Create(1 << 20);
//   if (absl::IsUnimplemented(file.status())) GTEST_SKIP() << file.status();
//   ASSERT_TRUE(file.ok()) << file.status();
class DirectTempFile {
 public:
  // Unimplemented when the file system refuses O_DIRECT; Internal for any other failure.
  static absl::StatusOr<std::unique_ptr<DirectTempFile>> Create(uint64_t size_bytes);
  ~DirectTempFile();

  DirectTempFile(const DirectTempFile&) = delete;
  DirectTempFile& operator=(const DirectTempFile&) = delete;

  // Open until destruction. Offsets, lengths and buffers of IO on it must be block-aligned.
  int fd() const { return fd_; }
  // For checks through a second, buffered descriptor.
  const std::string& path() const { return path_; }

 private:
  DirectTempFile() : path_(dir_.File("direct.dat")) {}

  TempDir dir_;  // named after the running test
  const std::string path_;
  int fd_ = -1;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_IO_TESTING_DIRECT_TEMP_FILE_H_
