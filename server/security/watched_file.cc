#include "server/security/watched_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "server/common/thread_start.h"

namespace blockstore {

// Larger than any sensible policy or token list; a file this large is a mistake (or /dev/zero).
constexpr size_t kMaxConfigFileBytes = 16 << 20;

absl::StatusOr<std::string> ReadWholeFile(absl::string_view flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat(flag, ": cannot read \"", path, "\": ", std::strerror(errno)));
  }
  std::string contents;
  char buffer[64 << 10];
  while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
    contents.append(buffer, static_cast<size_t>(in.gcount()));
    if (contents.size() > kMaxConfigFileBytes) {
      return absl::FailedPreconditionError(
          absl::StrCat(flag, ": \"", path, "\" is larger than ", kMaxConfigFileBytes, " bytes"));
    }
  }
  if (in.bad()) {
    return absl::FailedPreconditionError(absl::StrCat(flag, ": error reading \"", path, "\""));
  }
  return contents;
}

absl::StatusOr<std::unique_ptr<WatchedFile>> WatchedFile::Start(std::string flag, std::string path,
                                                                absl::Duration interval,
                                                                Apply apply) {
  std::unique_ptr<WatchedFile> file(
      new WatchedFile(std::move(flag), std::move(path), std::move(apply)));
  absl::StatusOr<std::string> contents = ReadWholeFile(file->flag_, file->path_);
  if (!contents.ok()) return contents.status();
  const absl::Status applied = file->apply_(*contents);
  if (!applied.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file->flag_, ": \"", file->path_, "\": ", applied.message()));
  }
  {
    absl::MutexLock lock(&file->mu_);
    file->last_contents_ = *std::move(contents);
  }
  WatchedFile* raw = file.get();
  absl::StatusOr<std::thread> thread = StartThread(
      absl::StrCat("the reload thread of --", raw->flag_), [raw, interval] { raw->Run(interval); });
  if (!thread.ok()) return thread.status();
  file->thread_ = *std::move(thread);
  return file;
}

WatchedFile::~WatchedFile() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void WatchedFile::Run(absl::Duration interval) {
  while (!stop_.WaitForNotificationWithTimeout(interval)) CheckNow().IgnoreError();
}

absl::Status WatchedFile::CheckNow() {
  // One check at a time, so two never apply in the wrong order.
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::string> contents = ReadWholeFile(flag_, path_);
  if (!contents.ok()) {
    // A rotation that swaps a symlink can make the file vanish for a moment: keep what is in
    // force, say so once, and look again next interval.
    if (last_error_ != contents.status().message()) {
      LOG(ERROR) << "--" << flag_ << ": " << contents.status().message()
                 << "; keeping the configuration in force";
      last_error_ = std::string(contents.status().message());
    }
    return contents.status();
  }
  if (*contents == last_contents_) return absl::OkStatus();
  last_contents_ = *std::move(contents);
  last_error_.clear();
  const absl::Status applied = apply_(last_contents_);
  if (applied.ok()) {
    LOG(INFO) << "--" << flag_ << ": reloaded \"" << path_ << "\"";
  } else {
    LOG(ERROR) << "--" << flag_ << ": \"" << path_ << "\" was not reloaded: " << applied.message()
               << "; keeping the previous configuration";
  }
  return applied;
}

}  // namespace blockstore
