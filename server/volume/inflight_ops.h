#ifndef BLOCKSTORE_SERVER_VOLUME_INFLIGHT_OPS_H_
#define BLOCKSTORE_SERVER_VOLUME_INFLIGHT_OPS_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "glog/logging.h"
#include "server/common/annotated_mutex_lock.h"

namespace blockstore {

// Counts a volume's operations that own IO outside the writeback's bios: flush jobs (their
// device flush) and reads on a cache miss. Volume::Close() waits for the count to reach zero,
// as it waits for bios, so no completion can run into a destroyed volume (R27).
//
// Thread-safe: Start on any thread, Done on whichever thread finishes the operation.
class InflightOps {
 public:
  void Start() ABSL_LOCKS_EXCLUDED(mu_) {
    AnnotatedMutexLock lock(&mu_);
    ++count_;
  }

  // The operation's last use of anything the volume owns is over.
  void Done() ABSL_LOCKS_EXCLUDED(mu_) {
    AnnotatedMutexLock lock(&mu_);
    CHECK_GT(count_, 0) << "InflightOps::Done without Start";
    if (--count_ == 0) idle_.SignalAll();
  }

  // Blocks until every started operation is done.
  void WaitIdle() ABSL_LOCKS_EXCLUDED(mu_) {
    AnnotatedMutexLock lock(&mu_);
    while (count_ != 0) lock.Wait(&idle_);
  }

  int64_t count() ABSL_LOCKS_EXCLUDED(mu_) {
    AnnotatedMutexLock lock(&mu_);
    return count_;
  }

 private:
  absl::Mutex mu_;
  absl::CondVar idle_;  // signalled when count_ drops to 0
  int64_t count_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_VOLUME_INFLIGHT_OPS_H_
