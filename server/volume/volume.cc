#include "server/volume/volume.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <iterator>
#include <thread>
#include <utility>

#include "absl/base/dynamic_annotations.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "glog/logging.h"
#include "server/common/annotated_reader_lock.h"
#include "server/cache/memory_budget.h"
#include "server/cache/page_cache.h"
#include "server/common/clock.h"
#include "server/common/io_status.h"
#include "server/common/sync_result.h"
#include "server/common/annotated_mutex_lock.h"
#include "server/io/io_backend.h"
#include "server/writeback/block_map.h"
#include "server/writeback/error_seq.h"
#include "server/writeback/writeback.h"

namespace blockstore {

// ---------------------------------------------------------------------------------------------
// Blocking conveniences.

namespace {

// Owns itself: deleted at the end of OnFlushDone, after handing the summary over.
class SyncFlushObserver : public FlushObserver {
 public:
  SyncFlushObserver(std::vector<PageResult>* pages,
                    std::shared_ptr<SyncResult<FlushSummary>> result)
      : pages_(pages), result_(std::move(result)) {}
  void OnPageDone(const PageResult& result) override {
    AnnotatedMutexLock lock(&mu_);
    if (pages_ != nullptr) pages_->push_back(result);
  }
  void OnFlushDone(const FlushSummary& summary) override {
    result_->Set(summary);
    delete this;
  }

 private:
  absl::Mutex mu_;
  std::vector<PageResult>* const pages_;
  const std::shared_ptr<SyncResult<FlushSummary>> result_;
};

}  // namespace

absl::Status Volume::WriteSync(uint64_t page_index, uint32_t offset_bytes, absl::string_view data,
                               bool fua, absl::Time deadline) {
  auto result = std::make_shared<SyncResult<absl::Status>>();
  Write(page_index, offset_bytes, data, fua, deadline,
        [result](absl::Status status) { result->Set(std::move(status)); });
  return result->Wait();
}

absl::StatusOr<std::string> Volume::ReadSync(uint64_t page_index) {
  auto result = std::make_shared<SyncResult<absl::StatusOr<std::string>>>();
  Read(page_index, [result](absl::StatusOr<absl::string_view> data) {
    if (data.ok()) {
      result->Set(std::string(*data));
    } else {
      result->Set(data.status());
    }
  });
  return result->Wait();
}

FlushSummary Volume::FlushSync(absl::optional<uint32_t> error_cursor,
                               std::vector<PageResult>* pages) {
  auto result = std::make_shared<SyncResult<FlushSummary>>();
  Flush(error_cursor, new SyncFlushObserver(pages, result));
  return result->Wait();
}

namespace {

// Attempts of an integrity writeback of one page before a resource failure is reported (R15:
// transient failures are retried, a permanent one fails the Flush instead of claiming success).
constexpr int kIntegrityAttempts = 8;
// Writers waiting on the dirty limit at once; more get ResourceExhausted at once.
constexpr size_t kMaxParkedWriters = 4096;
// Pages per background writeback round, between which integrity work gets its turn.
constexpr size_t kBackgroundBatchPages = 256;
// How often the writeback thread looks at parked writers' deadlines.
constexpr absl::Duration kParkedPollInterval = absl::Milliseconds(5);

class VolumeImpl;

// One integrity writeback (a Flush, or a FUA write's page): counts the pages it waits for,
// reports each as its writeback ends, then issues the device flush and reports the summary.
// Owns itself: deleted after the observer's OnFlushDone.
class FlushJob final : public WritebackObserver, public IoRequest {
 public:
  // `pinned_page`: for a single-page (FUA) job, that page, pinned; the job unpins it.
  FlushJob(VolumeImpl* volume, FlushObserver* observer, absl::optional<uint32_t> error_cursor,
           bool consume_error_seq, absl::optional<uint64_t> single_page,
           Page* pinned_page = nullptr);

  // Counts one writeback of the page that this job waits for. Call it before
  // Pass::WritePage: the page's bios may complete before WritePage returns. Every AddPage is
  // balanced by exactly one OnPageWritebackEnd (or NoWriteback).
  void AddPage(uint64_t page_index);
  // The WritePage that AddPage counted did not start a writeback (nothing needed IO).
  void NoWriteback(uint64_t page_index);
  // A page this job did not write (clean when it looked: its last writeback, started before
  // this job, has ended): reported at once with how that writeback ended. Not counted.
  void ReportNow(const PageResult& result);
  // The job gave up on the page after kIntegrityAttempts resource failures. The page is
  // reported failed once every writeback counted for it has ended.
  void GiveUp(uint64_t page_index, absl::Status status);
  // The submitter's reference: dropped once every page of the job is queued.
  void ReleaseSubmitterRef() { Dec(); }

  void OnPageWritebackEnd(const PageResult& result, bool will_retry) override;
  void Complete(int32_t res) override;  // the fdatasync

  // Finishes at once with `status` (the volume is closing). REQUIRES: no page was added.
  void Abort(absl::Status status);

  // Group commit: `follower`, a Flush queued together with this one, is served by this job's
  // pass and device flush instead of its own. It gets every page result this job reports and
  // finishes when this job does, with its own error cursor (R21) and its own summary. Both
  // started before the pass collects its pages, so the pass covers every write either must
  // make durable, as a pass of the follower's own would have. Measured: with a Flush every 256
  // writes at depth 32, one Flush after another took 36-82 ms (p50), each waiting for the
  // previous one's pages and then issuing its own fdatasync.
  // REQUIRES: called on the writeback thread before this job's pass starts; the follower has
  // no pages, no followers and is not started otherwise.
  void AddFollower(FlushJob* follower) { followers_.push_back(follower); }

  absl::optional<uint64_t> single_page() const { return single_page_; }
  // The single page's pin, now the caller's. REQUIRES: a single-page job, called once.
  Page* TakePinnedPage() { return std::exchange(pinned_page_, nullptr); }

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

  // Folds `result` into the page's state. REQUIRES: mu_ held.
  void MergeLocked(PageState* state, const PageResult& result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The page's result once nothing more will come for it (then forgets the page), else nullopt.
  absl::optional<PageResult> TakeIfDoneLocked(uint64_t page_index)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Report(const PageResult& result);
  void Dec();
  void Finish(absl::Status status);

  VolumeImpl* const volume_;
  FlushObserver* const observer_;
  const absl::optional<uint32_t> error_cursor_;
  const bool consume_error_seq_;
  const absl::optional<uint64_t> single_page_;
  Page* pinned_page_;    // until TakePinnedPage(), or unpinned by Finish() (an aborted job)
  uint32_t cursor_ = 0;  // sampled when the job starts
  const int64_t started_ns_;
  std::atomic<int64_t> pending_{1};
  int fsync_eagain_retries_ = 0;  // completion thread only
  std::atomic<uint64_t> pages_written_{0};
  std::atomic<uint64_t> pages_failed_{0};
  // Set before the pass starts, read-only afterwards (the pass's bios, and so every completion
  // that reads it, are submitted after it is set).
  std::vector<FlushJob*> followers_;
  absl::Mutex mu_;
  absl::Status first_page_error_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, PageState> page_states_ ABSL_GUARDED_BY(mu_);
};

// Adapts a FUA write's completion to the FlushObserver of its one-page job.
class FuaObserver final : public FlushObserver {
 public:
  explicit FuaObserver(Volume::WriteCallback done) : done_(std::move(done)) {}
  void OnPageDone(const PageResult&) override {}
  void OnFlushDone(const FlushSummary& summary) override {
    done_(summary.status);
    delete this;
  }

 private:
  Volume::WriteCallback done_;
};

// A read of one page from the file into a bounce buffer, merged into the cache on completion.
class ReadOp final : public IoRequest {
 public:
  ReadOp(VolumeImpl* volume, uint64_t page_index, uint32_t page_size_bytes,
         Volume::ReadCallback done, uint64_t evictions_at_submit);
  ~ReadOp() override;
  bool ok() const { return buffer_ != nullptr; }
  // On the backend's completion thread. Never waits for a page lock (R16, R28): if the page is
  // locked, the merge is handed to the volume's thread (FinishBlocking).
  void Complete(int32_t res) override;
  // Merges and answers, waiting for the page lock if it must. Not on a completion thread.
  void FinishBlocking();

 private:
  // Lays the page's uptodate blocks over the bytes read (newer writes win) and, when allowed,
  // fills the page's other blocks from them. REQUIRES: page_ locked.
  void MergeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(page_->lock());
  // Answers the caller and deletes this.
  void Finish();

  VolumeImpl* const volume_;
  const uint64_t page_index_;
  const uint32_t page_size_bytes_;
  Volume::ReadCallback done_;
  const uint64_t evictions_at_submit_;
  uint8_t* buffer_ = nullptr;
  iovec iovec_{};
  int eagain_retries_ = 0;
  bool may_fill_ = false;
  Page* page_ = nullptr;  // pinned from completion to Finish(), if cached
  std::string result_;
};

class VolumeImpl final : public Volume {
 public:
  VolumeImpl(const VolumeConfig& config, const VolumeOptions& options, int fd, bool owns_fd,
             IoBackend* backend, MemoryBudget* budget, std::unique_ptr<MemoryBudget> own_budget)
      : config_(config),
        options_(options),
        fd_(fd),
        owns_fd_(owns_fd),
        backend_(backend),
        own_budget_(std::move(own_budget)),
        cache_(config.page_size_bytes, config.block_size_bytes, budget, &counters_),
        writeback_(MakeWritebackConfig(config, options, fd), &block_map_, backend, &cache_,
                   &error_seq_, &counters_) {
    cache_.set_writeback_end_hook([this] { OnWritebackEnd(); });
    thread_ = std::thread([this] { Run(); });
  }

  ~VolumeImpl() override {
    Close();
    if (owns_fd_) ::close(fd_);
  }

  const VolumeConfig& config() const override { return config_; }
  const VolumeOptions& options() const override { return options_; }
  const VolumeCounters& counters() const override { return counters_; }

  VolumeStats Stats() const override {
    VolumeStats stats;
    stats.dirty_pages = cache_.dirty_pages();
    stats.pages_under_writeback = cache_.writeback_pages();
    stats.buffers_under_io = static_cast<uint64_t>(
        std::max<int64_t>(0, counters_.buffers_under_io.load(std::memory_order_relaxed)));
    stats.cached_pages = cache_.cached_pages();
    stats.bios_inflight = static_cast<uint64_t>(
        std::max<int64_t>(0, counters_.bios_inflight.load(std::memory_order_relaxed)));
    return stats;
  }

  void Write(uint64_t page_index, uint32_t offset_bytes, absl::string_view data, bool fua,
             absl::Time deadline, WriteCallback done) override {
    absl::Status status = ValidateWriteGeometry(config_, page_index, offset_bytes, data.size());
    if (!status.ok()) return done(std::move(status));
    if (!accepting_writes_.load(std::memory_order_acquire)) {
      return done(absl::UnavailableError(
          absl::StrCat("volume ", config_.name, " is shutting down; retry on another server")));
    }
    ParkedWrite write{page_index, offset_bytes, data, fua, deadline, std::move(done), 0};
    // FIFO: once writers wait, new ones queue behind them (balance_dirty_pages is fair too).
    if (counters_.throttled_writers.load(std::memory_order_acquire) > 0 || OverDirtyLimit()) {
      return Park(std::move(write));
    }
    bool page_busy = false;
    Page* fua_page = nullptr;
    status = DoWrite(write, &page_busy, &fua_page);
    if (page_busy || status.code() == absl::StatusCode::kResourceExhausted) {
      return Park(std::move(write));
    }
    FinishWrite(std::move(write), std::move(status), fua_page);
  }

  void Read(uint64_t page_index, ReadCallback done) override {
    absl::Status status = ValidatePageIndex(config_, page_index);
    if (!status.ok()) return done(std::move(status));
    if (closed_.load(std::memory_order_acquire)) return done(ClosedError());
    if (Page* page = cache_.Find(page_index)) {
      std::string copy;
      bool hit;
      {
        AnnotatedReaderMutexLock lock(&page->lock());
        hit = page->AllBlocksUptodate();
        if (hit) copy.assign(reinterpret_cast<const char*>(page->data()), config_.page_size_bytes);
      }
      cache_.Unpin(page);
      if (hit) {
        VolumeCounters::Add(counters_.cache_hits);
        CountRead();
        return done(absl::string_view(copy));
      }
    }
    VolumeCounters::Add(counters_.cache_misses);
    auto* op = new ReadOp(this, page_index, config_.page_size_bytes, std::move(done),
                          counters_.cache_evictions.load(std::memory_order_acquire));
    if (!op->ok()) {
      delete op;
      return;  // ReadOp reported the allocation failure.
    }
    if (!backend_->Submit(op).ok()) op->Complete(-ESHUTDOWN);
  }

  void Flush(absl::optional<uint32_t> error_cursor, FlushObserver* observer) override {
    auto* job = new FlushJob(this, observer, error_cursor, /*consume_error_seq=*/true,
                             absl::nullopt);
    Enqueue(job);
  }

  uint32_t SampleErrorCursor() const override { return error_seq_.Sample(); }

  void StopAcceptingWrites() override { accepting_writes_.store(false, std::memory_order_release); }

  void Close() override {
    {
      AnnotatedMutexLock lock(&mu_);
      if (closed_.load(std::memory_order_acquire)) return;
      accepting_writes_.store(false, std::memory_order_release);
      closed_.store(true, std::memory_order_release);
      stop_ = true;
      cv_.Signal();
    }
    thread_.join();
    writeback_.WaitIdle();
    AnnotatedMutexLock lock(&ops_mu_);
    while (ops_in_flight_ != 0) lock.Wait(&ops_cv_);
  }

  // --- Used by FlushJob, ReadOp and the writeback thread. ---

  void SubmitFsync(FlushJob* job) {
    job->op = IoOp::kFdatasync;
    job->fd = fd_;
    job->offset_bytes = 0;
    job->iov = nullptr;
    job->iov_count = 0;
    VolumeCounters::Add(counters_.fdatasyncs);
    const absl::Status status = backend_->Submit(job);
    if (!status.ok()) job->Complete(-ESHUTDOWN);
  }

  // A read whose page was locked when it completed: finished on this volume's thread, which
  // may wait for the lock (it is never a completion thread); once that thread has stopped, no
  // pass can hold a page lock any more and the caller finishes it at once.
  void FinishReadElsewhere(ReadOp* op) {
    {
      AnnotatedMutexLock lock(&mu_);
      if (!reads_finish_inline_) {
        deferred_reads_.push_back(op);
        wake_ = true;
        cv_.Signal();
        return;
      }
    }
    op->FinishBlocking();
  }

  // FlushJobs and ReadOps in flight: Close() waits for them, as it waits for bios (R27).
  void OpStarted() {
    AnnotatedMutexLock lock(&ops_mu_);
    ++ops_in_flight_;
  }
  void OpDone() {
    AnnotatedMutexLock lock(&ops_mu_);
    if (--ops_in_flight_ == 0) ops_cv_.SignalAll();
  }

  ErrorSeq& error_seq() { return error_seq_; }
  VolumeCounters& mutable_counters() { return counters_; }
  PageCache& cache() { return cache_; }
  int fd() const { return fd_; }
  IoBackend* backend() const { return backend_; }
  absl::Status ClosedError() const {
    return absl::UnavailableError(absl::StrCat("volume ", config_.name, " is closed"));
  }

 private:
  struct ParkedWrite {
    uint64_t page_index;
    uint32_t offset_bytes;
    absl::string_view data;
    bool fua;
    absl::Time deadline;
    WriteCallback done;
    int64_t parked_ns;
  };

  static WritebackConfig MakeWritebackConfig(const VolumeConfig& config,
                                              const VolumeOptions& options, int fd) {
    WritebackConfig wb;
    wb.volume_name = config.name;
    wb.fd = fd;
    wb.size_bytes = config.size_bytes;
    wb.page_size_bytes = config.page_size_bytes;
    wb.block_size_bytes = config.block_size_bytes;
    wb.bio_max_vecs = options.bio_max_vecs;
    wb.bio_max_bytes = std::max(options.bio_max_bytes, config.block_size_bytes);
    wb.max_bios_inflight = options.max_bios_inflight;
    return wb;
  }

  bool OverDirtyLimit() const {
    // Like balance_dirty_pages: pages under writeback still count, so writers cannot outrun a
    // slow device by having their pages merely in flight.
    const uint64_t pages = cache_.dirty_pages() + cache_.writeback_pages();
    return pages * config_.page_size_bytes >= options_.dirty_limit_bytes;
  }

  bool OverBackgroundThreshold() const {
    return cache_.dirty_pages() * config_.page_size_bytes >= options_.dirty_background_bytes;
  }

  // Copies the data into the cache: no IO, never blocks on IO. With stable pages, a page in
  // writeback is left alone and *page_busy set: the caller parks the write. A FUA write that
  // succeeded keeps its page pinned in *fua_page for its integrity job (FinishWrite).
  absl::Status DoWrite(const ParkedWrite& write, bool* page_busy, Page** fua_page) {
    *page_busy = false;
    *fua_page = nullptr;
    absl::StatusOr<Page*> page_or = cache_.FindOrCreate(write.page_index);
    if (!page_or.ok()) return page_or.status();
    Page* page = *page_or;
    {
      AnnotatedMutexLock lock(&page->lock());
      if (options_.stable_pages && page->IsWriteback()) {
        *page_busy = true;  // counted as a throttled writer once parked
        cache_.Unpin(page);
        return absl::OkStatus();
      }
      if (options_.stable_pages) {
        std::memcpy(page->data() + write.offset_bytes, write.data.data(), write.data.size());
      } else {
        // R16 by design: without stable pages this page may be in writeback, and the device
        // may be reading one of these blocks right now (a DMA, a SyncBackend worker's pwritev,
        // the fake device's copy at Submit). Its dirty bit, set below under this lock, makes
        // the page's next writeback send the new bytes, so a torn copy the device took is
        // overwritten (R11). ThreadSanitizer is told that this one store races on purpose;
        // with stable pages (its own concurrency test) no store is hidden from it.
        ABSL_ANNOTATE_IGNORE_WRITES_BEGIN();
        std::memcpy(page->data() + write.offset_bytes, write.data.data(), write.data.size());
        ABSL_ANNOTATE_IGNORE_WRITES_END();
      }
      const uint32_t first = write.offset_bytes / config_.block_size_bytes;
      const uint32_t last =
          (write.offset_bytes + static_cast<uint32_t>(write.data.size())) / config_.block_size_bytes;
      for (uint32_t i = first; i < last; ++i) page->SetBlock(i, kBlockUptodate | kBlockDirty);
      cache_.MarkDirty(page);
    }
    if (write.fua) {
      *fua_page = page;
    } else {
      cache_.Unpin(page);
    }
    VolumeCounters::Add(counters_.pages_written);
    VolumeCounters::Add(counters_.bytes_written, write.data.size());
    return absl::OkStatus();
  }

  void FinishWrite(ParkedWrite write, absl::Status status, Page* fua_page) {
    if (!status.ok() || !write.fua) {
      DCHECK(fua_page == nullptr);
      return write.done(std::move(status));
    }
    // FUA: durable before the reply. The page is written back by an integrity job of its own
    // and the device flushed; the reply carries that page's result. The job holds the write's
    // pin on the page until it has looked at it: a page written back by the flusher in the
    // meantime, failed and evicted would otherwise be missing from the cache, and the job,
    // finding nothing to write, would report the lost write as durable.
    auto* job = new FlushJob(this, new FuaObserver(std::move(write.done)), absl::nullopt,
                             /*consume_error_seq=*/false, write.page_index, fua_page);
    Enqueue(job);
  }

  void Park(ParkedWrite write) {
    write.parked_ns = MonotonicNanos();
    const absl::Time limit = absl::Now() + options_.dirty_wait_max;
    if (write.deadline > limit) write.deadline = limit;
    {
      AnnotatedMutexLock lock(&mu_);
      if (!stop_ && parked_.size() < kMaxParkedWriters) {
        VolumeCounters::Add(counters_.throttled_writers, 1);
        parked_.push_back(std::move(write));
        wake_ = true;
        cv_.Signal();
        return;
      }
    }
    write.done(absl::ResourceExhaustedError(absl::StrCat(
        "volume ", config_.name, ": too many writers waiting on the dirty limit; retry later")));
  }

  void Enqueue(FlushJob* job) {
    {
      AnnotatedMutexLock lock(&mu_);
      if (!stop_) {
        jobs_.push_back(job);
        jobs_pending_.store(true, std::memory_order_release);
        wake_ = true;
        cv_.Signal();
        return;
      }
    }
    job->Abort(ClosedError());
  }

  void OnWritebackEnd() {
    // Only throttled writers need the thread woken at once; everything else runs on its timer.
    if (counters_.throttled_writers.load(std::memory_order_acquire) == 0) return;
    AnnotatedMutexLock lock(&mu_);
    wake_ = true;
    cv_.Signal();
  }

  // The volume's writeback thread (kernel: the bdi flusher): integrity jobs first, then
  // background writeback, then writers parked on the dirty limit.
  void Run() {
    for (;;) {
      std::deque<FlushJob*> jobs;
      bool stop;
      {
        AnnotatedMutexLock lock(&mu_);
        const absl::Duration wait = parked_.empty() ? options_.flusher_interval
                                                    : std::min(options_.flusher_interval,
                                                               kParkedPollInterval);
        const absl::Time deadline = absl::Now() + wait;
        while (!wake_ && !stop_) {
          const absl::Duration left = deadline - absl::Now();
          if (left <= absl::ZeroDuration() || lock.WaitWithTimeout(&cv_, left)) break;
        }
        wake_ = false;
        jobs.swap(jobs_);
        jobs_pending_.store(false, std::memory_order_release);
        stop = stop_;
      }
      FinishDeferredReads();
      // Group commit: every Flush queued by now is served by one pass and one device flush,
      // led by the last one queued (FlushJob::AddFollower). FUA jobs (one page) run alone.
      FlushJob* lead = nullptr;
      for (FlushJob* job : jobs) {
        if (!job->single_page().has_value()) lead = job;
      }
      for (FlushJob* job : jobs) {
        if (stop) {
          job->Abort(ClosedError());
        } else if (!job->single_page().has_value() && job != lead) {
          lead->AddFollower(job);  // every follower comes before its lead in `jobs`
        } else {
          RunIntegrity(job);
          FinishDeferredReads();
        }
      }
      if (stop) break;
      BackgroundWriteback();
      FinishDeferredReads();
      ServeParkedWriters();
    }
    // Closing: fail what still waits; reads still finish (from now on where they complete).
    std::deque<ParkedWrite> parked;
    std::deque<FlushJob*> jobs;
    std::deque<ReadOp*> reads;
    {
      AnnotatedMutexLock lock(&mu_);
      parked.swap(parked_);
      jobs.swap(jobs_);
      reads.swap(deferred_reads_);
      reads_finish_inline_ = true;
    }
    for (ReadOp* op : reads) op->FinishBlocking();
    for (ParkedWrite& write : parked) {
      VolumeCounters::Add(counters_.throttled_writers, -1);
      write.done(ClosedError());
    }
    for (FlushJob* job : jobs) job->Abort(ClosedError());
  }

  void FinishDeferredReads() {
    std::deque<ReadOp*> reads;
    {
      AnnotatedMutexLock lock(&mu_);
      reads.swap(deferred_reads_);
    }
    for (ReadOp* op : reads) op->FinishBlocking();
  }

  void RunIntegrity(FlushJob* job) {
    std::vector<Page*> pages;
    if (job->single_page()) {
      pages.push_back(job->TakePinnedPage());  // a FUA write's page, pinned since the write
    } else {
      pages = cache_.CollectForFlush();
    }
    {
      Writeback::Pass pass(&writeback_, SyncMode::kAll, job);
      for (Page* page : pages) {
        WritePageForIntegrity(&pass, page, job);
        cache_.Unpin(page);
      }
    }  // ~Pass: the open bio is submitted and the pass's IoEnd reference dropped.
    job->ReleaseSubmitterRef();
  }

  void WritePageForIntegrity(Writeback::Pass* pass, Page* page, FlushJob* job) {
    absl::Status status;
    for (int attempt = 0; attempt < kIntegrityAttempts; ++attempt) {
      bool wrote = false;
      bool started = false;
      PageResult clean;  // how the page's last writeback ended, if it turns out clean
      for (;;) {
        {
          AnnotatedMutexLock lock(&page->lock());
          if (!page->IsWriteback()) {
            if (page->IsDirty()) {
              job->AddPage(page->index());  // before WritePage: its bios may complete first
              status = pass->WritePage(page, &started);
              wrote = true;
            } else {
              // Written by a writeback that has ended: report how it ended.
              clean.page_index = page->index();
              if (page->HasError()) {
                clean.status = IoResultToStatus(-page->error_errno(), "write", page->index());
                for (uint32_t i = 0; i < page->block_count(); ++i) {
                  if (page->TestBlock(i, kBlockWriteError)) clean.failed_blocks.push_back(i);
                }
              }
            }
            break;
          }
        }
        // R1: an integrity writeback waits for the one in flight, then writes what is dirty.
        pass->SubmitOpenBio();
        cache_.WaitWriteback(page);
      }
      if (!wrote) {
        job->ReportNow(clean);
        return;
      }
      if (!started) {
        // Nothing needed IO (R12): the page never entered writeback, so no completion reports
        // it. (A resource failure always happens after writeback started.)
        DCHECK(status.ok()) << status;
        job->NoWriteback(page->index());
      }
      if (status.ok()) return;
      // R15: a resource failure in an integrity writeback is retried, not reported as success.
      pass->SubmitOpenBio();
      absl::SleepFor(absl::Microseconds(100 << attempt));
    }
    job->GiveUp(page->index(), status);
  }

  void BackgroundWriteback() {
    const int64_t expired_before = MonotonicNanos() - absl::ToInt64Nanoseconds(options_.dirty_expire);
    for (;;) {
      if (jobs_pending_.load(std::memory_order_acquire)) return;  // integrity work first
      const bool over = OverBackgroundThreshold() ||
                        counters_.throttled_writers.load(std::memory_order_acquire) > 0;
      std::vector<Page*> pages =
          cache_.CollectDirty(kBackgroundBatchPages, over ? 0 : expired_before);
      if (pages.empty()) return;
      bool stalled = false;
      bool any_started = false;
      {
        Writeback::Pass pass(&writeback_, SyncMode::kNone, nullptr);
        for (Page* page : pages) {
          if (!stalled) {
            AnnotatedMutexLock lock(&page->lock());
            // R1: background writeback skips a page already under writeback.
            if (page->IsDirty() && !page->IsWriteback()) {
              bool started = false;
              stalled = !pass.WritePage(page, &started).ok();
              any_started |= started;
            }
          }
          cache_.Unpin(page);
        }
      }
      if (stalled) return;  // out of bios or IoEnds: try again next round
      // Pages that stay dirty with nothing to write (delayed or unwritten blocks, R4) would be
      // collected again at once: end the round instead of spinning on them.
      if (!any_started) return;
    }
  }

  void ServeParkedWriters() {
    for (;;) {
      ParkedWrite write;
      std::deque<ParkedWrite> expired;
      bool over_limit = false;
      {
        AnnotatedMutexLock lock(&mu_);
        if (parked_.empty()) return;
        over_limit = OverDirtyLimit();
        if (over_limit) {
          // Still over: fail the writers whose deadline has passed, keep the others waiting.
          const absl::Time now = absl::Now();
          for (auto it = parked_.begin(); it != parked_.end();) {
            if (it->deadline <= now) {
              expired.push_back(std::move(*it));
              it = parked_.erase(it);
            } else {
              ++it;
            }
          }
        } else {
          write = std::move(parked_.front());
          parked_.pop_front();
        }
      }
      if (over_limit) {
        for (ParkedWrite& w : expired) {
          AccountThrottle(w);
          w.done(absl::ResourceExhaustedError(absl::StrCat(
              "volume ", config_.name, ": over the dirty limit (", options_.dirty_limit_bytes,
              " bytes) until the deadline; retry later")));
        }
        return;
      }
      bool page_busy = false;
      Page* fua_page = nullptr;
      absl::Status status = DoWrite(write, &page_busy, &fua_page);
      if ((page_busy || status.code() == absl::StatusCode::kResourceExhausted) &&
          absl::Now() < write.deadline) {
        // The cache is full of dirty pages, or (stable pages) the page is in writeback: keep
        // waiting; the end of a writeback wakes this thread.
        AnnotatedMutexLock lock(&mu_);
        parked_.push_front(std::move(write));
        return;
      }
      if (page_busy) {
        status = absl::ResourceExhaustedError(absl::StrCat(
            "volume ", config_.name, ": page ", write.page_index,
            " stayed in writeback until the deadline (stable pages); retry later"));
      }
      AccountThrottle(write);
      FinishWrite(std::move(write), std::move(status), fua_page);
    }
  }

  void AccountThrottle(const ParkedWrite& write) {
    VolumeCounters::Add(counters_.throttled_writers, -1);
    VolumeCounters::Add(counters_.throttled_ns,
                        static_cast<uint64_t>(MonotonicNanos() - write.parked_ns));
  }

  void CountRead() {
    VolumeCounters::Add(counters_.pages_read);
    VolumeCounters::Add(counters_.bytes_read, config_.page_size_bytes);
  }

  friend class ReadOp;

  const VolumeConfig config_;
  const VolumeOptions options_;
  const int fd_;
  const bool owns_fd_;
  IoBackend* const backend_;
  std::unique_ptr<MemoryBudget> own_budget_;
  VolumeCounters counters_;
  LinearBlockMap block_map_;
  ErrorSeq error_seq_;
  PageCache cache_;
  Writeback writeback_;
  std::atomic<bool> accepting_writes_{true};
  std::atomic<bool> closed_{false};
  std::atomic<bool> jobs_pending_{false};

  absl::Mutex mu_;
  absl::CondVar cv_;  // the writeback thread waits on it for wake_ or stop_
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<FlushJob*> jobs_ ABSL_GUARDED_BY(mu_);
  std::deque<ParkedWrite> parked_ ABSL_GUARDED_BY(mu_);
  std::deque<ReadOp*> deferred_reads_ ABSL_GUARDED_BY(mu_);
  bool reads_finish_inline_ ABSL_GUARDED_BY(mu_) = false;  // the thread takes no more
  std::thread thread_;

  absl::Mutex ops_mu_ ABSL_ACQUIRED_AFTER(mu_);
  absl::CondVar ops_cv_;  // signalled when ops_in_flight_ drops to 0
  int64_t ops_in_flight_ ABSL_GUARDED_BY(ops_mu_) = 0;
};

// ---------------------------------------------------------------------------------------------
// FlushJob.

FlushJob::FlushJob(VolumeImpl* volume, FlushObserver* observer,
                   absl::optional<uint32_t> error_cursor, bool consume_error_seq,
                   absl::optional<uint64_t> single_page, Page* pinned_page)
    : volume_(volume),
      observer_(observer),
      error_cursor_(error_cursor),
      consume_error_seq_(consume_error_seq),
      single_page_(single_page),
      pinned_page_(pinned_page),
      started_ns_(MonotonicNanos()) {
  volume->OpStarted();
  // A caller without a cursor is a new handle: errseq_sample() now, before any page is written,
  // so an error this flush meets (or one nobody has seen) is reported to it.
  cursor_ = error_cursor.has_value() ? *error_cursor : volume->error_seq().Sample();
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

void FlushJob::Report(const PageResult& result) {
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
  if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) volume_->SubmitFsync(this);
}

void FlushJob::Complete(int32_t res) {
  // Bounded like a bio's EAGAIN retries: a device that never stops saying "again" fails the
  // Flush instead of spinning the completion thread.
  if (res == -EAGAIN && ++fsync_eagain_retries_ < 1000) {
    const absl::Status status = volume_->backend()->Submit(this);
    if (status.ok()) return;
    res = -ESHUTDOWN;
  }
  absl::Status status;
  if (res < 0) {
    // A failed device flush loses whatever it covered: latch it for every caller too.
    volume_->error_seq().Set(-res);
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
  if (status.ok() && consume_error_seq_) {
    // R21: the volume's error, once per caller.
    const int err = volume_->error_seq().CheckAndAdvance(&cursor_);
    if (err != 0) {
      status = IoResultToStatus(-err, absl::StrCat("writeback of volume ",
                                                   volume_->config().name),
                                0);
    }
  }
  // A page of this very flush failed: never claim success, whatever the cursor said (R15).
  if (status.ok() && !first_page_error.ok()) status = first_page_error;
  summary.status = status;
  summary.error_cursor = cursor_;
  VolumeCounters& counters = volume_->mutable_counters();
  if (consume_error_seq_) {
    VolumeCounters::Add(counters.flushes);
    if (!status.ok()) VolumeCounters::Add(counters.flush_errors);
    counters.flush_seconds.Observe(static_cast<double>(MonotonicNanos() - started_ns_) * 1e-9);
  }
  // An aborted FUA job never took its page.
  if (pinned_page_ != nullptr) volume_->cache().Unpin(pinned_page_);
  FlushObserver* observer = observer_;
  VolumeImpl* volume = volume_;
  std::vector<FlushJob*> followers = std::move(followers_);
  delete this;
  observer->OnFlushDone(summary);
  for (FlushJob* follower : followers) follower->Finish(device_status);
  volume->OpDone();
}

// ---------------------------------------------------------------------------------------------
// ReadOp.

ReadOp::ReadOp(VolumeImpl* volume, uint64_t page_index, uint32_t page_size_bytes,
               Volume::ReadCallback done, uint64_t evictions_at_submit)
    : volume_(volume),
      page_index_(page_index),
      page_size_bytes_(page_size_bytes),
      done_(std::move(done)),
      evictions_at_submit_(evictions_at_submit) {
  volume->OpStarted();
  buffer_ = static_cast<uint8_t*>(std::aligned_alloc(4096, page_size_bytes));
  if (buffer_ == nullptr) {
    done_(absl::ResourceExhaustedError("out of memory for a read buffer"));
    return;
  }
  iovec_.iov_base = buffer_;
  iovec_.iov_len = page_size_bytes;
  op = IoOp::kReadv;
  fd = volume->fd();
  offset_bytes = page_index * page_size_bytes;
  iov = &iovec_;
  iov_count = 1;
}

ReadOp::~ReadOp() {
  std::free(buffer_);
  volume_->OpDone();
}

void ReadOp::Complete(int32_t res) {
  if (res == -EAGAIN && ++eagain_retries_ < 1000) {
    if (volume_->backend()->Submit(this).ok()) return;
    res = -ESHUTDOWN;
  }
  if (res < 0) {
    Volume::ReadCallback done = std::move(done_);
    const absl::Status status =
        IoResultToStatus(res, absl::StrCat("read of page ", page_index_),
                         page_index_ * volume_->config().blocks_per_page());
    delete this;
    return done(status);
  }
  // A short read is the end of the file: the rest of the page reads as zeros.
  if (static_cast<uint32_t>(res) < page_size_bytes_) {
    std::memset(buffer_ + res, 0, page_size_bytes_ - res);
  }
  PageCache& cache = volume_->cache();
  result_.assign(reinterpret_cast<const char*>(buffer_), page_size_bytes_);
  // Cache what was read only if no page of the volume was evicted meanwhile: then any newer
  // write of these blocks is still in the cache, marked uptodate, and wins over the file.
  may_fill_ = volume_->counters().cache_evictions.load(std::memory_order_acquire) ==
              evictions_at_submit_;
  if (may_fill_) {
    absl::StatusOr<Page*> page_or = cache.FindOrCreate(page_index_);
    if (page_or.ok()) page_ = *page_or;
  } else {
    page_ = cache.Find(page_index_);
  }
  if (page_ == nullptr) return Finish();
  if (!page_->lock().TryLock()) {
    // The page's lock may be held by a writeback pass that is waiting for a bio, or for room in
    // the backend's queue, which only this thread's completions give back: waiting here could
    // deadlock the volume. The volume's thread finishes the read instead.
    return volume_->FinishReadElsewhere(this);
  }
  ABSL_ANNOTATE_RWLOCK_ACQUIRED(&page_->lock(), 1);
  MergeLocked();
  ABSL_ANNOTATE_RWLOCK_RELEASED(&page_->lock(), 1);
  page_->lock().Unlock();
  Finish();
}

void ReadOp::FinishBlocking() {
  if (page_ != nullptr) {
    AnnotatedMutexLock lock(&page_->lock());
    MergeLocked();
  }
  Finish();
}

void ReadOp::MergeLocked() {
  const uint32_t block_size = volume_->config().block_size_bytes;
  for (uint32_t i = 0; i < page_->block_count(); ++i) {
    const uint32_t offset = i * block_size;
    if (page_->TestBlock(i, kBlockUptodate)) {
      std::memcpy(&result_[offset], page_->data() + offset, block_size);
    } else if (may_fill_) {
      std::memcpy(page_->data() + offset, buffer_ + offset, block_size);
      page_->SetBlock(i, kBlockUptodate);
    }
  }
}

void ReadOp::Finish() {
  if (page_ != nullptr) volume_->cache().Unpin(page_);
  volume_->CountRead();
  Volume::ReadCallback done = std::move(done_);
  std::string result = std::move(result_);
  delete this;
  done(absl::string_view(result));
}

absl::Status ErrnoStatus(int err, absl::string_view what, absl::string_view path) {
  return absl::ErrnoToStatus(err, absl::StrCat(what, " ", path));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Volume>> OpenVolume(const std::string& data_path,
                                                   const VolumeConfig& config,
                                                   const VolumeOptions& options,
                                                   IoBackend* backend, MemoryBudget* budget,
                                                   bool create) {
  absl::Status status = ValidateVolumeConfig(config);
  if (!status.ok()) return status;
  int flags = O_RDWR | O_CLOEXEC | O_DIRECT;
  if (create) flags |= O_CREAT | O_EXCL;
  int fd = ::open(data_path.c_str(), flags, 0640);
  if (fd < 0 && errno == EINVAL) {
    // tmpfs and some overlay file systems refuse O_DIRECT. Buffered IO still works; say so.
    LOG(WARNING) << "O_DIRECT unsupported for " << data_path << "; using buffered IO";
    fd = ::open(data_path.c_str(), flags & ~O_DIRECT, 0640);
  }
  if (fd < 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat("volume data file exists: ", data_path));
    }
    return ErrnoStatus(errno, "open", data_path);
  }
  if (create) {
    if (::ftruncate(fd, static_cast<off_t>(config.size_bytes)) != 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(data_path.c_str());
      return ErrnoStatus(err, "ftruncate", data_path);
    }
  } else {
    struct stat st;
    if (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) != config.size_bytes) {
      ::close(fd);
      return absl::DataLossError(absl::StrCat("volume data file ", data_path,
                                              " does not have the configured size ",
                                              config.size_bytes));
    }
  }
  std::unique_ptr<MemoryBudget> own_budget;
  if (budget == nullptr) {
    own_budget = std::make_unique<MemoryBudget>(options.cache_bytes);
    budget = own_budget.get();
  }
  return std::unique_ptr<Volume>(new VolumeImpl(config, options, fd, /*owns_fd=*/true, backend,
                                                budget, std::move(own_budget)));
}

absl::StatusOr<std::unique_ptr<Volume>> OpenVolumeOnDeviceForTest(int device_fd,
                                                                  const VolumeConfig& config,
                                                                  const VolumeOptions& options,
                                                                  IoBackend* backend) {
  absl::Status status = ValidateVolumeConfig(config);
  if (!status.ok()) return status;
  auto budget = std::make_unique<MemoryBudget>(options.cache_bytes);
  MemoryBudget* raw = budget.get();
  return std::unique_ptr<Volume>(new VolumeImpl(config, options, device_fd, /*owns_fd=*/false,
                                                backend, raw, std::move(budget)));
}

}  // namespace blockstore
