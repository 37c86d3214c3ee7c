#ifndef BLOCKSTORE_SERVER_VOLUME_VOLUME_TEST_HELPERS_H_
#define BLOCKSTORE_SERVER_VOLUME_VOLUME_TEST_HELPERS_H_

// Helpers for tests that drive a whole Volume on the fake and faulty backends (testonly).

#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/common/annotated_mutex_lock.h"
#include "server/volume/volume.h"
#include "server/writeback/page_result.h"
#include "server/writeback/writeback_test_harness.h"

namespace blockstore {
namespace testing_harness {

// Collects one Flush's events; Wait() is bounded.
class FlushWaiter : public FlushObserver {
 public:
  void OnPageDone(const PageResult& result) override {
    AnnotatedMutexLock lock(&mu_);
    pages_.push_back(result);
  }
  void OnFlushDone(const FlushSummary& summary) override {
    {
      AnnotatedMutexLock lock(&mu_);
      summary_ = summary;
    }
    done_.Set();
  }
  bool done() { return done_.IsSet(); }
  Event& done_event() { return done_; }
  bool Wait(absl::Duration timeout = absl::Seconds(30)) { return done_.WaitFor(timeout); }
  FlushSummary summary() {
    AnnotatedMutexLock lock(&mu_);
    return summary_;
  }
  std::vector<PageResult> pages() {
    AnnotatedMutexLock lock(&mu_);
    return pages_;
  }

 private:
  absl::Mutex mu_;
  std::vector<PageResult> pages_ ABSL_GUARDED_BY(mu_);
  FlushSummary summary_ ABSL_GUARDED_BY(mu_);
  Event done_;
};

// The volume the fake-device tests use: "v", `pages` pages of 4 KiB, 4 KiB blocks (one block
// per page, so each page not next to another is a bio of its own).
inline VolumeConfig FourKiBVolumeConfig(uint64_t pages) {
  VolumeConfig config;
  config.name = "v";
  config.size_bytes = pages * 4096;
  config.page_size_bytes = 4096;
  config.block_size_bytes = 4096;
  return config;
}

// Volume options that leave all writeback to explicit Flush calls: no expiry, no background
// threshold a test reaches, a flusher that wakes once an hour.
inline VolumeOptions QuietVolumeOptions() {
  VolumeOptions options;
  options.cache_bytes = 64ull << 20;
  options.dirty_limit_bytes = 32ull << 20;
  options.dirty_background_bytes = 32ull << 20;
  options.dirty_expire = absl::Hours(1);
  options.flusher_interval = absl::Hours(1);
  return options;
}

}  // namespace testing_harness
}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_VOLUME_VOLUME_TEST_HELPERS_H_
