#ifndef BLOCKSTORE_SERVER_VOLUME_VOLUME_FILE_H_
#define BLOCKSTORE_SERVER_VOLUME_VOLUME_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace blockstore {

// The file that holds a volume's blocks: logical block n at offset n * block_size, opened with
// O_DIRECT so writeback's bios reach the device without a second copy in the kernel's page
// cache (blockstore's PageCache is the cache). Owns its descriptor; movable, not copyable.
//
// Thread-safe once open: the descriptor is only read.
class VolumeFile {
 public:
  // Opens `path`, which must be exactly `size_bytes` long (DataLoss otherwise: a file that
  // changed size behind the server's back is not silently served). With `create`, creates it
  // first at that size (AlreadyExists if it is there; a failed create leaves no file), and
  // with `reserve_space` allocates all of it on the disk (ResourceExhausted when it does not
  // fit); without, the file is sparse (thin). File systems that refuse O_DIRECT (tmpfs, some
  // overlays) get buffered IO, and those that cannot reserve space a thin file, with a warning.
  static absl::StatusOr<VolumeFile> Open(const std::string& path, uint64_t size_bytes, bool create,
                                         bool reserve_space = false);

  VolumeFile(VolumeFile&& other) noexcept;
  VolumeFile& operator=(VolumeFile&& other) noexcept;
  VolumeFile(const VolumeFile&) = delete;
  VolumeFile& operator=(const VolumeFile&) = delete;
  ~VolumeFile();

  int fd() const { return fd_; }
  bool direct_io() const { return direct_io_; }

 private:
  VolumeFile(int fd, bool direct_io) : fd_(fd), direct_io_(direct_io) {}

  int fd_ = -1;
  bool direct_io_ = false;
};

// fsync of a file or (`directory`) a directory, so a rename or unlink in it is durable.
absl::Status FsyncPath(const std::string& path, bool directory);

// The suffix of WriteFileDurably's temporary file: one left in the data directory is a write
// that a crash cut short, and VolumeRegistry removes it at startup.
constexpr char kTempSuffix[] = ".tmp";

// The whole of a small file of the data directory (a config or state file). ErrnoStatus's
// codes: NotFound when it does not exist.
absl::StatusOr<std::string> ReadFileText(const std::string& path);

// Writes `text` to `path` atomically and durably: a temporary file beside it, fsync, rename,
// fsync of `dir` (the directory holding `path`). ENOSPC is ResourceExhausted.
absl::Status WriteFileDurably(const std::string& dir, const std::string& path,
                              const std::string& text);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_VOLUME_VOLUME_FILE_H_
