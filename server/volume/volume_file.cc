#include "server/volume/volume_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "server/common/io_status.h"

namespace blockstore {

absl::StatusOr<VolumeFile> VolumeFile::Open(const std::string& path, uint64_t size_bytes,
                                            bool create) {
  int flags = O_RDWR | O_CLOEXEC | O_DIRECT;
  if (create) flags |= O_CREAT | O_EXCL;
  bool direct_io = true;
  int fd = ::open(path.c_str(), flags, 0640);
  if (fd < 0 && errno == EINVAL) {
    // tmpfs and some overlay file systems refuse O_DIRECT. Buffered IO still works; say so.
    LOG(WARNING) << "O_DIRECT unsupported for " << path << "; using buffered IO";
    direct_io = false;
    fd = ::open(path.c_str(), flags & ~O_DIRECT, 0640);
  }
  if (fd < 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat("volume data file exists: ", path));
    }
    return ErrnoStatus(errno, "open", path);
  }
  VolumeFile file(fd, direct_io);
  if (create) {
    if (::ftruncate(fd, static_cast<off_t>(size_bytes)) != 0) {
      const int err = errno;
      ::unlink(path.c_str());
      return ErrnoStatus(err, "ftruncate", path);
    }
    return file;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, "fstat", path);
  if (static_cast<uint64_t>(st.st_size) != size_bytes) {
    return absl::DataLossError(absl::StrCat("volume data file ", path, " is ", st.st_size,
                                            " bytes, not the configured size ", size_bytes));
  }
  return file;
}

VolumeFile::VolumeFile(VolumeFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), direct_io_(other.direct_io_) {}

VolumeFile& VolumeFile::operator=(VolumeFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    direct_io_ = other.direct_io_;
  }
  return *this;
}

VolumeFile::~VolumeFile() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status FsyncPath(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  return rc == 0 ? absl::OkStatus() : ErrnoStatus(err, "fsync", path);
}

absl::Status WriteFileDurably(const std::string& dir, const std::string& path,
                              const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.close();
    if (!out) return absl::InternalError(absl::StrCat("write ", tmp, " failed"));
  }
  absl::Status status = FsyncPath(tmp, false);
  if (!status.ok()) return status;
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoStatus(errno, "rename", tmp);
  return FsyncPath(dir, true);
}

}  // namespace blockstore
