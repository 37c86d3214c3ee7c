#include "server/volume/volume_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "server/common/io_status.h"

namespace blockstore {

absl::StatusOr<VolumeFile> VolumeFile::Open(const std::string& path, uint64_t size_bytes,
                                            bool create, bool reserve_space) {
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
      if (err == EFBIG) {
        return absl::InvalidArgumentError(absl::StrCat(
            "size_bytes: ", size_bytes, " is larger than the server's file system allows"));
      }
      return ErrnoStatus(err, "ftruncate", path);
    }
    if (reserve_space) {
      // Without this the file is sparse, and writes acknowledged into the cache could fail
      // with ENOSPC at writeback because another volume filled the disk meanwhile.
      const int err = ::posix_fallocate(fd, 0, static_cast<off_t>(size_bytes));
      if (err == ENOSPC || err == EDQUOT || err == EFBIG) {
        ::unlink(path.c_str());
        return absl::ResourceExhaustedError(
            absl::StrCat("size_bytes: ", size_bytes, " bytes do not fit on the server's disk (",
                         std::strerror(err), "); free space or choose a smaller volume"));
      }
      if (err == EOPNOTSUPP || err == EINVAL) {
        LOG(WARNING) << "space for " << path << " cannot be reserved on this file system ("
                     << std::strerror(err) << "); the volume is thin";
      } else if (err != 0) {
        ::unlink(path.c_str());
        return ErrnoStatus(err, "fallocate", path);
      }
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

absl::StatusOr<std::string> ReadFileText(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  std::string text;
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return ErrnoStatus(err, "read", path);
    }
    if (n == 0) break;
    text.append(chunk, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

absl::Status WriteFileDurably(const std::string& dir, const std::string& path,
                              const std::string& text) {
  const std::string tmp = path + kTempSuffix;
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return ErrnoStatus(errno, "open", tmp);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // A full disk is ENOSPC here (RESOURCE_EXHAUSTED), not an opaque stream failure.
      const int err = n < 0 ? errno : EIO;
      ::close(fd);
      ::unlink(tmp.c_str());
      return ErrnoStatus(err, "write", tmp);
    }
    done += static_cast<size_t>(n);
  }
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) {
    ::unlink(tmp.c_str());
    return ErrnoStatus(err, "fsync", tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int rename_err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus(rename_err, "rename", tmp);
  }
  return FsyncPath(dir, true);
}

}  // namespace blockstore
