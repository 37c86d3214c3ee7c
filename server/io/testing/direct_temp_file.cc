#include "server/io/testing/direct_temp_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace blockstore {

absl::StatusOr<std::unique_ptr<DirectTempFile>> DirectTempFile::Create(uint64_t size_bytes) {
  std::unique_ptr<DirectTempFile> file(new DirectTempFile());
  file->fd_ = ::open(file->path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_DIRECT, 0600);
  if (file->fd_ < 0 && errno == EINVAL) {
    return absl::UnimplementedError(
        absl::StrCat("the file system of ", file->path_, " does not support O_DIRECT"));
  }
  if (file->fd_ < 0) {
    return absl::InternalError(absl::StrCat("open ", file->path_, ": ", std::strerror(errno)));
  }
  if (::ftruncate(file->fd_, static_cast<off_t>(size_bytes)) != 0) {
    return absl::InternalError(absl::StrCat("ftruncate ", file->path_, ": ", std::strerror(errno)));
  }
  return file;
}

DirectTempFile::~DirectTempFile() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace blockstore
