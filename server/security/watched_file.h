#ifndef BLOCKSTORE_SERVER_SECURITY_WATCHED_FILE_H_
#define BLOCKSTORE_SERVER_SECURITY_WATCHED_FILE_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace blockstore {

// A configuration file that is re-read when its contents change (the access policy and the
// tokens): Kubernetes updates a mounted ConfigMap or Secret in place, and an operator edits a
// file, without restarting the server. Every `interval` a thread reads the file; when the bytes
// differ from the last read, `apply` is called with them. When `apply` refuses them (a typo),
// the previous configuration stays in force and the refusal is logged once for that content,
// not every interval; a file that cannot be read is handled the same way.
//
// Thread-safe. The thread stops in the destructor.
class WatchedFile {
 public:
  // Parses and installs the new contents, or says why not (and installs nothing).
  using Apply = std::function<absl::Status(absl::string_view contents)>;

  // Reads `path` and applies it now: a missing file or refused contents fail startup with
  // FailedPrecondition/InvalidArgument naming `flag` and `path`. Then starts the thread.
  static absl::StatusOr<std::unique_ptr<WatchedFile>> Start(std::string flag, std::string path,
                                                            absl::Duration interval, Apply apply);
  ~WatchedFile();

  WatchedFile(const WatchedFile&) = delete;
  WatchedFile& operator=(const WatchedFile&) = delete;

  // Reads the file now, as the thread does (tests; no need to wait for the interval). Returns
  // what applying it returned, or OK when the contents had not changed.
  absl::Status CheckNow();

 private:
  WatchedFile(std::string flag, std::string path, Apply apply)
      : flag_(std::move(flag)), path_(std::move(path)), apply_(std::move(apply)) {}
  void Run(absl::Duration interval);

  const std::string flag_;
  const std::string path_;
  const Apply apply_;
  absl::Mutex mu_;
  // The contents last read (applied or refused); a file is re-applied only when they change.
  std::string last_contents_ ABSL_GUARDED_BY(mu_);
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  absl::Notification stop_;
  std::thread thread_;
};

// The contents of `path`, or FailedPrecondition naming `flag` and saying why.
absl::StatusOr<std::string> ReadWholeFile(absl::string_view flag, const std::string& path);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SECURITY_WATCHED_FILE_H_
