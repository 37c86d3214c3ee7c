#ifndef BLOCKSTORE_SERVER_SECURITY_REFUSAL_LOG_H_
#define BLOCKSTORE_SERVER_SECURITY_REFUSAL_LOG_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/security/caller.h"

namespace blockstore {

// Logs refused calls for an operator: who (Caller::Describe, never a token), which volume,
// and why. Rate-limited, because a misconfigured client (or an attacker) refused in a loop
// must not fill the disk or drown the log: at most `per_window` lines per `window`, then one
// line saying how many were not logged.
//
// Thread-safe.
class RefusalLog {
 public:
  explicit RefusalLog(int per_window = 20, absl::Duration window = absl::Seconds(10))
      : per_window_(per_window), window_(window) {}

  // Returns whether the refusal was logged (tests).
  bool Log(const Caller& caller, absl::string_view volume, const absl::Status& status,
           absl::Time now = absl::Now());

 private:
  const int per_window_;
  const absl::Duration window_;
  absl::Mutex mu_;
  absl::Time window_start_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int logged_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t suppressed_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SECURITY_REFUSAL_LOG_H_
