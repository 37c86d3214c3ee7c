#include "server/volume/flush_job.h"

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/annotated_mutex_lock.h"
#include "server/common/clock.h"
#include "server/common/io_status.h"

namespace blockstore {
namespace {

// Adapts a FUA write's completion to the FlushObserver of its one-page job. Owns itself.
class FuaWriteObserver final : public FlushObserver {
 public:
  explicit FuaWriteObserver(std::function<void(absl::Status)> done) : done_(std::move(done)) {}
  void OnPageDone(const PageResult&) override {}
  void OnFlushDone(const FlushSummary& summary) override {
    done_(summary.status);
    delete this;
  }

 private:
  std::function<void(absl::Status)> done_;
};

}  // namespace

FlushJob* FlushJob::ForFlush(const FlushJobContext* context, FlushObserver* observer,
                             absl::optional<ErrorCursor> error_cursor) {
  return new FlushJob(context, observer, error_cursor, /*consume_error_seq=*/true, absl::nullopt,
                      /*pinned_page=*/nullptr);
}

FlushJob* FlushJob::ForFuaWrite(const FlushJobContext* context, uint64_t page_index,
                                uint32_t first_block, uint32_t block_count, Page* pinned_page,
                                std::function<void(absl::Status)> done) {
  auto* job = new FlushJob(context, new FuaWriteObserver(std::move(done)), absl::nullopt,
                           /*consume_error_seq=*/false, page_index, pinned_page);
  job->fua_first_block_ = first_block;
  job->fua_block_count_ = block_count;
  return job;
}

PageResult FlushJob::JudgeFuaBlocks(PageResult result) const {
  std::vector<uint32_t> own_failed;
  for (uint32_t b = fua_first_block_; b < fua_first_block_ + fua_block_count_; ++b) {
    if (pinned_page_->TestBlock(b, kBlockWriteError)) own_failed.push_back(b);
  }
  if (!own_failed.empty()) {
    if (result.status.ok()) {
      result.status = IoResultToStatus(
          -(pinned_page_->error_errno() != 0 ? pinned_page_->error_errno() : EIO),
          absl::StrCat("write of page ", result.page_index, " (an earlier writeback of it)"),
          result.page_index * pinned_page_->block_count() + own_failed.front());
    }
    result.failed_blocks = std::move(own_failed);
  } else if (!result.failed_blocks.empty()) {
    // Only the page's other blocks failed: not this write's data.
    result.status = absl::OkStatus();
    result.failed_blocks.clear();
  }
  return result;
}

FlushJob::FlushJob(const FlushJobContext* context, FlushObserver* observer,
                   absl::optional<ErrorCursor> error_cursor, bool consume_error_seq,
                   absl::optional<uint64_t> single_page, Page* pinned_page)
    : context_(context),
      observer_(observer),
      consume_error_seq_(consume_error_seq),
      single_page_(single_page),
      pinned_page_(pinned_page),
      started_ns_(MonotonicNanos()) {
  context_->ops->Start();
  // A caller without a cursor is a new handle: errseq_sample() now, before any page is written,
  // so an error this flush meets (or one nobody has seen) is reported to it.
  if (!error_cursor.has_value()) {
    cursor_ = context_->error_seq->Sample();
  } else if (CursorIncarnation(*error_cursor) == context_->incarnation) {
    cursor_ = CursorErrorSeq(*error_cursor);
  } else {
    // Issued before the volume's last unclean stop: its ErrorSeq part means nothing to this
    // incarnation. Start from 0, so every error this incarnation has latched is still reported.
    stale_cursor_ = *error_cursor;
    cursor_ = 0;
  }
}

void FlushJob::AddPage(uint64_t page_index) {
  pending_.fetch_add(1, std::memory_order_acq_rel);
  AnnotatedMutexLock lock(&mu_);
  ++page_states_[page_index].outstanding;
}

void FlushJob::NoWriteback(uint64_t page_index) {
  PageResult result;
  result.page_index = page_index;
  OnPageWritebackEnd(result, /*will_retry=*/false);
}

void FlushJob::OnPageWritebackEnd(const PageResult& result, bool will_retry) {
  absl::optional<PageResult> report;
  {
    AnnotatedMutexLock lock(&mu_);
    PageState& state = page_states_[result.page_index];
    --state.outstanding;
    MergeLocked(&state, result);
    // A retried attempt's failure (a bio that failed before a resource failure cut the attempt
    // short) is kept: the page is reported once, with every failure of its attempts.
    if (!will_retry) state.final = true;
    report = TakeIfDoneLocked(result.page_index);
  }
  if (report.has_value()) Report(*report);
  Dec();
}

void FlushJob::ReportNow(const PageResult& result) {
  absl::optional<PageResult> report;
  {
    AnnotatedMutexLock lock(&mu_);
    PageState& state = page_states_[result.page_index];
    MergeLocked(&state, result);
    state.final = true;
    report = TakeIfDoneLocked(result.page_index);
  }
  if (report.has_value()) Report(*report);
}

void FlushJob::GiveUp(uint64_t page_index, absl::Status status) {
  absl::optional<PageResult> report;
  {
    AnnotatedMutexLock lock(&mu_);
    page_states_[page_index].gave_up = std::move(status);
    // The last attempt's bios may still be in flight: then the page is reported at their end.
    report = TakeIfDoneLocked(page_index);
  }
  if (report.has_value()) Report(*report);
}

void FlushJob::MergeLocked(PageState* state, const PageResult& result) {
  if (result.status.ok()) return;
  if (state->io_error.ok()) state->io_error = result.status;
  std::vector<uint32_t> merged;
  std::set_union(state->failed_blocks.begin(), state->failed_blocks.end(),
                 result.failed_blocks.begin(), result.failed_blocks.end(),
                 std::back_inserter(merged));
  state->failed_blocks = std::move(merged);
}

absl::optional<PageResult> FlushJob::TakeIfDoneLocked(uint64_t page_index) {
  auto it = page_states_.find(page_index);
  const PageState& state = it->second;
  if (state.outstanding > 0 || !(state.final || state.gave_up.has_value())) return absl::nullopt;
  PageResult result;
  result.page_index = page_index;
  if (!state.io_error.ok()) {
    result.status = state.io_error;
  } else if (state.gave_up.has_value()) {
    result.status = *state.gave_up;
  }
  result.failed_blocks = state.failed_blocks;
  page_states_.erase(it);
  return result;
}

void FlushJob::Report(const PageResult& page_result) {
  const PageResult result = pinned_page_ != nullptr ? JudgeFuaBlocks(page_result) : page_result;
  if (result.status.ok()) {
    pages_written_.fetch_add(1, std::memory_order_relaxed);
  } else {
    pages_failed_.fetch_add(1, std::memory_order_relaxed);
    AnnotatedMutexLock lock(&mu_);
    if (first_page_error_.ok()) first_page_error_ = result.status;
  }
  observer_->OnPageDone(result);
  for (FlushJob* follower : followers_) follower->Report(result);
}

void FlushJob::Dec() {
  if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) SubmitDeviceFlush();
}

void FlushJob::SubmitDeviceFlush() {
  op = IoOp::kFdatasync;
  fd = context_->fd;
  offset_bytes = 0;
  iov = nullptr;
  iov_count = 0;
  VolumeCounters::Add(context_->counters->fdatasyncs);
  if (!context_->backend->Submit(this).ok()) Complete(-ESHUTDOWN);
}

void FlushJob::Complete(int32_t res) {
  if (res == -EAGAIN && ++eagain_retries_ < kMaxEagainRetries) {
    if (context_->backend->Submit(this).ok()) return;
    res = -ESHUTDOWN;
  }
  absl::Status status;
  if (res < 0) {
    // A failed device flush loses whatever it covered: latch it for every caller too.
    context_->error_seq->Set(-res);
    status = IoResultToStatus(res, "fdatasync", 0);
  }
  Finish(std::move(status));
}

void FlushJob::Abort(absl::Status status) { Finish(std::move(status)); }

void FlushJob::Finish(absl::Status status) {
  // What the device flush (or the abort) said, before this job's cursor and pages add to it:
  // each follower adds its own.
  const absl::Status device_status = status;
  FlushSummary summary;
  summary.pages_written = pages_written_.load(std::memory_order_relaxed);
  summary.pages_failed = pages_failed_.load(std::memory_order_relaxed);
  absl::Status first_page_error;
  {
    AnnotatedMutexLock lock(&mu_);
    first_page_error = first_page_error_;
  }
  bool told_stale = false;
  if (status.ok() && consume_error_seq_) {
    // R21: the volume's error, once per caller. (A failed or aborted flush leaves the cursor
    // where it was: the caller must still learn of what it has not been told.)
    const int err = context_->error_seq->CheckAndAdvance(&cursor_);
    if (stale_cursor_.has_value()) {
      told_stale = true;
      // fsyncgate across a restart: writes acknowledged to this caller before the crash may
      // never have reached the device, and nothing in this process can tell which.
      status = absl::DataLossError(absl::StrCat(
          "volume ", context_->volume_name,
          " restarted after an unclean stop since this error "
          "cursor was issued (incarnation ",
          CursorIncarnation(*stale_cursor_), ", now ", context_->incarnation,
          "): writes acknowledged before the restart and not made durable "
          "by an OK Flush or FUA may be lost; the returned cursor reports later errors once"));
    } else if (err != 0) {
      // The cursor's error keeps only its errno: the failed pages (reported with their blocks
      // when this flush saw them) are in the page results.
      status = IoResultToStatus(-err, absl::StrCat("writeback of volume ", context_->volume_name));
    }
  }
  // A page of this very flush failed: never claim success, whatever the cursor said (R15).
  if (status.ok() && !first_page_error.ok()) status = first_page_error;
  summary.status = status;
  // A stale cursor whose DATA_LOSS could not be said (the flush failed or was aborted first)
  // goes back unchanged, so the caller's next Flush says it.
  summary.error_cursor = stale_cursor_.has_value() && !told_stale
                             ? *stale_cursor_
                             : MakeErrorCursor(context_->incarnation, cursor_);
  VolumeCounters& counters = *context_->counters;
  if (consume_error_seq_) {
    VolumeCounters::Add(counters.flushes);
    if (!status.ok()) VolumeCounters::Add(counters.flush_errors);
    counters.flush_seconds.Observe(static_cast<double>(MonotonicNanos() - started_ns_) * 1e-9);
  }
  if (pinned_page_ != nullptr) context_->cache->Unpin(pinned_page_);
  FlushObserver* observer = observer_;
  const FlushJobContext* context = context_;
  std::vector<FlushJob*> followers = std::move(followers_);
  delete this;
  observer->OnFlushDone(summary);
  for (FlushJob* follower : followers) follower->Finish(device_status);
  context->ops->Done();
}

}  // namespace blockstore
