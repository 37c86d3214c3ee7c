#ifndef BLOCKSTORE_SERVER_VOLUME_DIRTY_THROTTLE_H_
#define BLOCKSTORE_SERVER_VOLUME_DIRTY_THROTTLE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "server/common/volume_counters.h"

namespace blockstore {

// A write waiting for room in the cache. `data` stays valid until `done` runs (Volume::Write's
// contract).
struct ParkedWrite {
  uint64_t page_index = 0;
  uint32_t offset_bytes = 0;
  absl::string_view data;
  bool fua = false;
  absl::Time deadline = absl::InfiniteFuture();
  std::function<void(absl::Status)> done;
  int64_t parked_ns = 0;  // monotonic, set by Park
  // Waits for its page (stable pages: the device may still read it; or a writeback pass holds
  // its lock), not for room under the dirty limit. Set before Park, or by WaitForPage.
  bool waits_for_page = false;
};

// Writers parked on a volume's dirty limit, in FIFO order (balance_dirty_pages is fair too:
// once writers wait, new ones queue behind them), and writers parked on their page. The caller
// is never blocked: a parked write is answered later, by the volume's writeback thread, when
// writeback has made room (NextReady) or its page is free, or with ResourceExhausted when its
// deadline passes first (bounded by wait_max). The queue is bounded; a writer beyond the bound
// is answered ResourceExhausted at once.
//
// A write that waits for its page (ParkedWrite::waits_for_page) holds back only later writes
// to that page (HasPageWaiter), which keep their order behind it: with stable pages one page's
// writeback lasts a device round trip, and making every writer queue behind it stalled the
// whole volume for it (a quarter of the writers parked on the service bench's random row).
//
// Thread-safe. `wake` (called after a write is parked, with no lock held) tells the writeback
// thread to look. The waiter count is the throttle's own, not a metric: the volume's logic
// reads it (HasWaiters), and it also feeds the throttled_writers gauge.
// Kernel analogue: balance_dirty_pages()'s wait, made asynchronous.
class DirtyThrottle {
 public:
  // Writers parked at once before new ones are refused.
  static constexpr size_t kDefaultMaxParked = 4096;

  DirtyThrottle(std::string volume_name, uint64_t dirty_limit_bytes, absl::Duration wait_max,
                VolumeCounters* counters, std::function<void()> wake,
                size_t max_parked = kDefaultMaxParked);

  // Any thread. Queues `write` behind every parked one, its deadline capped at now + wait_max.
  // Full: ResourceExhausted at once; closed: Unavailable `closed_status` at once.
  void Park(ParkedWrite write) ABSL_LOCKS_EXCLUDED(mu_);

  // Whether any writer waits. Lock-free.
  bool HasWaiters() const { return waiters_.load(std::memory_order_acquire) > 0; }
  // Whether a writer waits for room under the dirty limit. Lock-free.
  bool HasLimitWaiters() const { return limit_waiters_.load(std::memory_order_acquire) > 0; }
  // Whether a writer waits for page `page_index`. Lock-free when none waits for any page.
  bool HasPageWaiter(uint64_t page_index) const ABSL_LOCKS_EXCLUDED(mu_);

  // Writeback thread. While `over_limit()` holds, answers the parked writes whose deadline has
  // passed (ResourceExhausted) and returns nullopt; otherwise hands out the oldest parked write.
  // The caller either writes it and calls Release(), or gives it back with Requeue().
  absl::optional<ParkedWrite> NextReady(const std::function<bool()>& over_limit)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Puts a write that NextReady handed out back at the head of the queue (it keeps its turn).
  void Requeue(ParkedWrite write) ABSL_LOCKS_EXCLUDED(mu_);
  // Puts writes that NextReady handed out back at the head, in the order given.
  void Requeue(std::vector<ParkedWrite> writes) ABSL_LOCKS_EXCLUDED(mu_);
  // A write NextReady handed out found its page busy: from now on it waits for that page (and
  // holds back later writes to it, not every writer).
  void WaitForPage(ParkedWrite* write) ABSL_LOCKS_EXCLUDED(mu_);
  // The reverse: a write NextReady handed out found no room in the cache, so from now on it
  // waits for the limit (every new writer queues behind it, and writeback is pushed).
  void WaitForLimit(ParkedWrite* write) ABSL_LOCKS_EXCLUDED(mu_);
  // A write that NextReady handed out is leaving the throttle: counts its wait. The caller
  // answers it.
  void Release(const ParkedWrite& write);

  // Refuses new writers with `status` and answers every parked one with it. Idempotent.
  void Close(const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // One more / one fewer writer waiting for page `page_index` (pages_waited_for_, page_waiters_).
  void CountPageWaiterLocked(uint64_t page_index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ForgetPageWaiterLocked(uint64_t page_index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string volume_name_;
  const uint64_t dirty_limit_bytes_;  // for messages
  const absl::Duration wait_max_;
  VolumeCounters* const counters_;
  const std::function<void()> wake_;
  const size_t max_parked_;
  // Parked, plus handed out by NextReady and not yet released or requeued; limit_waiters_ and
  // page_waiters_ split them by ParkedWrite::waits_for_page.
  std::atomic<int64_t> waiters_{0};
  std::atomic<int64_t> limit_waiters_{0};
  std::atomic<int64_t> page_waiters_{0};

  mutable absl::Mutex mu_;
  std::deque<ParkedWrite> parked_ ABSL_GUARDED_BY(mu_);
  // Writers waiting per page, counted from Park (or WaitForPage) to Release.
  absl::flat_hash_map<uint64_t, int> pages_waited_for_ ABSL_GUARDED_BY(mu_);
  absl::optional<absl::Status> closed_ ABSL_GUARDED_BY(mu_);
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_VOLUME_DIRTY_THROTTLE_H_
