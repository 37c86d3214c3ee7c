#ifndef BLOCKSTORE_SERVER_VOLUME_FLUSH_JOB_H_
#define BLOCKSTORE_SERVER_VOLUME_FLUSH_JOB_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/optional.h"
#include "server/cache/page.h"
#include "server/cache/page_cache.h"
#include "server/common/volume_counters.h"
#include "server/io/io_backend.h"
#include "server/io/io_request.h"
#include "server/volume/flush_observer.h"
#include "server/volume/inflight_ops.h"
#include "server/writeback/error_seq.h"
#include "server/writeback/page_result.h"
#include "server/writeback/writeback.h"

namespace blockstore {

// What a FlushJob uses of its volume. Owned by the volume, and outlives every job (the volume
// waits for `ops` to be idle before it goes).
struct FlushJobContext {
  std::string volume_name;  // for messages
  int fd = -1;              // the device flush's target
  IoBackend* backend = nullptr;
  ErrorSeq* error_seq = nullptr;
  VolumeCounters* counters = nullptr;
  PageCache* cache = nullptr;  // unpins the page of a FUA job that never ran
  InflightOps* ops = nullptr;  // a job is one operation from construction to OnFlushDone
  uint32_t incarnation = 0;    // the volume's, for the cursors the jobs hand out
};

// One integrity writeback: a Flush, or a FUA write's page. It counts the page writebacks it
// waits for, reports each page once as its last writeback ends (merging the failures of R15's
// retried attempts), then issues the device flush (fdatasync) through the backend and reports
// the summary with the caller's error cursor advanced (ErrorSeq, R21). Flushes queued together
// are served by one job's pass and device flush (group commit, AddFollower).
//
// Threads: the volume's writeback thread creates the job's pages (AddPage, NoWriteback,
// ReportNow, GiveUp, ReleaseSubmitterRef); page ends arrive on completion threads (or the
// writeback thread); the device flush completes on the backend's completion thread, which
// then finishes the job. Owns itself: deleted after the observer's OnFlushDone.
// Kernel analogue: the sync half of file_write_and_wait_range() + file_check_and_advance_wb_err().
class FlushJob final : public WritebackObserver, public IoRequest {
 public:
  // A Flush: reports to `observer`, and consumes the volume's error for `error_cursor`
  // (nullopt: sampled now, like a newly opened file).
  static FlushJob* ForFlush(const FlushJobContext* context, FlushObserver* observer,
                            absl::optional<ErrorCursor> error_cursor);
  // A FUA write of blocks [first_block, first_block + block_count) of page `page_index`:
  // `done` gets the write's result (or the device flush's). `pinned_page` is the write's pin on
  // the page, which the job holds until it finishes: a page written back by the flusher
  // meanwhile, failed and evicted would otherwise be missing from the cache, and the job,
  // finding nothing to write, would report the lost write as durable. Judged by the write's
  // own blocks (their write-error bits when the page's writeback ends, or when the job finds
  // the page already written) and the device flush only: a failure of the page's other
  // blocks is not this write's, a failure of its blocks in an earlier writeback of the page is
  // (a later pass clears the page's error flag, not the blocks'), and the volume's error cursor
  // is neither read nor advanced.
  static FlushJob* ForFuaWrite(const FlushJobContext* context, uint64_t page_index,
                               uint32_t first_block, uint32_t block_count, Page* pinned_page,
                               std::function<void(absl::Status)> done);

  // Counts one writeback of the page that this job waits for. Call it before
  // Pass::WritePage: the page's bios may complete before WritePage returns. Every AddPage is
  // balanced by exactly one OnPageWritebackEnd (or NoWriteback).
  void AddPage(uint64_t page_index);
  // The WritePage that AddPage counted did not start a writeback (nothing needed IO).
  void NoWriteback(uint64_t page_index);
  // A page this job did not write (clean when it looked: its last writeback, started before
  // this job, has ended): reported at once with how that writeback ended. Not counted.
  void ReportNow(const PageResult& result);
  // The job gave up on the page after repeated resource failures. The page is reported failed
  // once every writeback counted for it has ended.
  void GiveUp(uint64_t page_index, absl::Status status);
  // The submitter's reference: dropped once every page of the job is queued. The device flush
  // is issued when this and every counted page writeback have ended.
  void ReleaseSubmitterRef() { Dec(); }

  // WritebackObserver: on the thread that ends the page's writeback.
  void OnPageWritebackEnd(const PageResult& result, bool will_retry) override;
  // IoRequest: the device flush's completion.
  void Complete(int32_t res) override;

  // Finishes at once with `status` (the volume is closing). REQUIRES: no page was added.
  void Abort(absl::Status status);

  // Group commit: `follower`, a Flush queued together with this one, is served by this job's
  // pass and device flush instead of its own. It gets every page result this job reports and
  // finishes when this job does, with its own error cursor (R21) and its own summary. Both
  // started before the pass collects its pages, so the pass covers every write either must
  // make durable, as a pass of the follower's own would have. (Measured effect:
  // docs/benchmarks.md, "group commit".)
  // REQUIRES: called on the writeback thread before this job's pass starts; the follower has
  // no pages, no followers and is not started otherwise.
  void AddFollower(FlushJob* follower) { followers_.push_back(follower); }

  // The FUA write's page, or nullopt for a Flush.
  absl::optional<uint64_t> single_page() const { return single_page_; }
  // The FUA write's page, pinned by the job until it finishes. REQUIRES: a FUA job.
  Page* pinned_page() const { return pinned_page_; }

 private:
  // What the job knows of one page until it reports it: a page may take several writebacks
  // (R15 retries after resource failures), and the failure of any of them is the page's.
  struct PageState {
    int outstanding = 0;  // writebacks counted by AddPage whose end has not been seen
    bool final = false;   // an end not followed by a retry has been seen
    absl::optional<absl::Status> gave_up;
    absl::Status io_error;                // the first failure an attempt reported
    std::vector<uint32_t> failed_blocks;  // union over the attempts, sorted
  };

  FlushJob(const FlushJobContext* context, FlushObserver* observer,
           absl::optional<ErrorCursor> error_cursor, bool consume_error_seq,
           absl::optional<uint64_t> single_page, Page* pinned_page);

  // A FUA job's verdict on its page: by its own blocks' write-error bits (see ForFuaWrite).
  PageResult JudgeFuaBlocks(PageResult result) const;

  // Folds `result` into the page's state.
  void MergeLocked(PageState* state, const PageResult& result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The page's result once nothing more will come for it (then forgets the page), else nullopt.
  absl::optional<PageResult> TakeIfDoneLocked(uint64_t page_index)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Report(const PageResult& result) ABSL_LOCKS_EXCLUDED(mu_);
  void Dec();
  void SubmitDeviceFlush();
  void Finish(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);

  const FlushJobContext* const context_;
  FlushObserver* const observer_;
  const bool consume_error_seq_;
  const absl::optional<uint64_t> single_page_;
  Page* const pinned_page_;       // a FUA job's page, unpinned by Finish()
  uint32_t fua_first_block_ = 0;  // a FUA write's blocks
  uint32_t fua_block_count_ = 0;
  uint32_t cursor_ = 0;  // the caller's ErrorSeq cursor, or sampled when the job starts
  // A caller's cursor from an incarnation before the volume's last unclean stop.
  absl::optional<ErrorCursor> stale_cursor_;
  const int64_t started_ns_;
  std::atomic<int64_t> pending_{1};  // the submitter's reference + page writebacks counted
  int eagain_retries_ = 0;           // completion thread only
  std::atomic<uint64_t> pages_written_{0};
  std::atomic<uint64_t> pages_failed_{0};
  // Set before the pass starts, read-only afterwards (the pass's bios, and so every completion
  // that reads it, are submitted after it is set).
  std::vector<FlushJob*> followers_;
  absl::Mutex mu_;
  absl::Status first_page_error_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, PageState> page_states_ ABSL_GUARDED_BY(mu_);
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_VOLUME_FLUSH_JOB_H_
