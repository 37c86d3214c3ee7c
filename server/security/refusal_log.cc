#include "server/security/refusal_log.h"

#include "glog/logging.h"

namespace blockstore {

bool RefusalLog::Log(const Caller& caller, absl::string_view volume, const absl::Status& status,
                     absl::Time now) {
  int64_t suppressed = 0;
  {
    absl::MutexLock lock(&mu_);
    if (now - window_start_ >= window_) {
      suppressed = suppressed_;
      suppressed_ = 0;
      logged_ = 0;
      window_start_ = now;
    }
    if (logged_ >= per_window_) {
      ++suppressed_;
      return false;
    }
    ++logged_;
  }
  if (suppressed > 0) {
    LOG(WARNING) << "refused: " << suppressed << " more refusals were not logged";
  }
  LOG(WARNING) << "refused: " << caller.Describe() << (volume.empty() ? "" : " volume ") << volume
               << ": " << absl::StatusCodeToString(status.code()) << ": " << status.message();
  return true;
}

}  // namespace blockstore
