#ifndef BLOCKSTORE_SERVER_VOLUME_FLUSH_WAITER_H_
#define BLOCKSTORE_SERVER_VOLUME_FLUSH_WAITER_H_

// The FlushObserver of tests (testonly): whole-volume tests, the flush job's own test and the
// group-commit test wait for a Flush and read its results through it.

#include <cstdint>
#include <map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/common/annotated_mutex_lock.h"
#include "server/common/sync_result.h"
#include "server/volume/flush_observer.h"
#include "server/writeback/page_result.h"

namespace blockstore {
namespace testing_harness {

// Collects one Flush's events: every page result, in the order they came, and the summary.
// Thread-safe (the events arrive on completion threads); waits are bounded.
class FlushWaiter : public FlushObserver {
 public:
  void OnPageDone(const PageResult& result) override ABSL_LOCKS_EXCLUDED(mu_) {
    AnnotatedMutexLock lock(&mu_);
    pages_.push_back(result);
  }
  void OnFlushDone(const FlushSummary& summary) override ABSL_LOCKS_EXCLUDED(mu_) {
    {
      AnnotatedMutexLock lock(&mu_);
      summary_ = summary;
    }
    done_.Set();
  }

  // True once OnFlushDone has run.
  bool done() { return done_.IsSet(); }
  Event& done_event() { return done_; }
  // True once OnFlushDone has run; false after `timeout`.
  bool Wait(absl::Duration timeout = absl::Seconds(30)) { return done_.WaitFor(timeout); }

  // The summary. Waits for OnFlushDone first (30 s at most; past that the test fails and the
  // summary is a default one).
  FlushSummary summary() ABSL_LOCKS_EXCLUDED(mu_) {
    EXPECT_TRUE(Wait()) << "the flush did not finish";
    AnnotatedMutexLock lock(&mu_);
    return summary_;
  }
  // The page results so far.
  std::vector<PageResult> pages() ABSL_LOCKS_EXCLUDED(mu_) {
    AnnotatedMutexLock lock(&mu_);
    return pages_;
  }
  // How many times each page was reported so far (a page is reported once per Flush).
  std::map<uint64_t, int> PageCounts() ABSL_LOCKS_EXCLUDED(mu_) {
    AnnotatedMutexLock lock(&mu_);
    std::map<uint64_t, int> counts;
    for (const PageResult& page : pages_) ++counts[page.page_index];
    return counts;
  }

 private:
  absl::Mutex mu_;
  std::vector<PageResult> pages_ ABSL_GUARDED_BY(mu_);
  FlushSummary summary_ ABSL_GUARDED_BY(mu_);
  Event done_;
};

}  // namespace testing_harness
}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_VOLUME_FLUSH_WAITER_H_
