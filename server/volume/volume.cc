#include "server/volume/volume.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/dynamic_annotations.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "glog/logging.h"
#include "server/cache/memory_budget.h"
#include "server/cache/page_cache.h"
#include "server/common/annotated_mutex_lock.h"
#include "server/common/annotated_reader_lock.h"
#include "server/common/clock.h"
#include "server/common/io_status.h"
#include "server/common/status_macros.h"
#include "server/common/sync_result.h"
#include "server/common/thread_start.h"
#include "server/io/io_backend.h"
#include "server/volume/dirty_throttle.h"
#include "server/volume/flush_job.h"
#include "server/volume/inflight_ops.h"
#include "server/volume/read_op.h"
#include "server/volume/volume_file.h"
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

FlushSummary Volume::FlushSync(absl::optional<ErrorCursor> error_cursor,
                               std::vector<PageResult>* pages) {
  auto result = std::make_shared<SyncResult<FlushSummary>>();
  Flush(error_cursor, new SyncFlushObserver(pages, result));
  return result->Wait();
}

namespace {

// Attempts of an integrity writeback of one page before a resource failure is reported (R15:
// transient failures are retried, a permanent one fails the Flush instead of claiming success).
constexpr int kIntegrityAttempts = 8;
// Pages per background writeback round, between which integrity work gets its turn.
constexpr size_t kBackgroundBatchPages = 256;
// How often the writeback thread looks at parked writers' deadlines.
constexpr absl::Duration kParkedPollInterval = absl::Milliseconds(5);

// The page lock for a write. On a caller's thread (a gRPC reaction) it is only tried, a few
// times: a writeback pass may hold it while it waits for a bio (every one of max_bios_inflight
// in flight) or for room in the backend's queue, and a reaction must never wait for the device.
// Readers and passes that do not wait hold it for microseconds, so a few tries usually get it;
// otherwise the write parks and this volume's thread, which may wait, lets it in.
class PageWriteLock {
 public:
  PageWriteLock(Page* page, bool may_wait) : mu_(&page->lock()) {
    if (may_wait) {
      mu_->Lock();
      locked_ = true;
    } else {
      for (int tries = 0; tries < kTries && !(locked_ = mu_->TryLock()); ++tries) {
        std::this_thread::yield();
      }
    }
    if (locked_) {
      ABSL_ANNOTATE_RWLOCK_ACQUIRED(mu_, 1);  // empty without TSan: keep the braces
    }
  }
  ~PageWriteLock() {
    if (!locked_) return;
    ABSL_ANNOTATE_RWLOCK_RELEASED(mu_, 1);
    mu_->Unlock();
  }
  PageWriteLock(const PageWriteLock&) = delete;
  PageWriteLock& operator=(const PageWriteLock&) = delete;

  bool locked() const { return locked_; }

 private:
  static constexpr int kTries = 8;
  absl::Mutex* const mu_;
  bool locked_ = false;
};

// The volume: its public API and its writeback thread (kernel: the bdi flusher), which runs
// integrity jobs first, then background writeback, then writers parked on the dirty limit.
// The jobs it runs (FlushJob), its cache-miss reads (ReadOp) and its parked writers
// (DirtyThrottle) are concepts of their own; they see the volume only through the contexts
// built here.
class VolumeImpl final : public Volume {
 public:
  VolumeImpl(const VolumeConfig& config, const VolumeOptions& options, uint32_t incarnation, int fd,
             absl::optional<VolumeFile> file, IoBackend* backend, MemoryBudget* budget,
             std::unique_ptr<MemoryBudget> own_budget)
      : config_(config),
        options_(options),
        incarnation_(incarnation),
        fd_(fd),
        file_(std::move(file)),
        backend_(backend),
        own_budget_(std::move(own_budget)),
        cache_(config.page_size_bytes, config.block_size_bytes, budget, &counters_),
        writeback_(MakeWritebackConfig(config, options, fd), &block_map_, backend, &cache_,
                   &error_seq_, &counters_),
        throttle_(config.name, options.dirty_limit_bytes, options.dirty_wait_max, &counters_,
                  [this] { Wake(); }) {
    flush_context_.volume_name = config_.name;
    flush_context_.fd = fd_;
    flush_context_.backend = backend_;
    flush_context_.error_seq = &error_seq_;
    flush_context_.counters = &counters_;
    flush_context_.cache = &cache_;
    flush_context_.ops = &ops_;
    flush_context_.incarnation = incarnation_;
    read_context_.config = &config_;
    read_context_.fd = fd_;
    read_context_.backend = backend_;
    read_context_.cache = &cache_;
    read_context_.counters = &counters_;
    read_context_.ops = &ops_;
    read_context_.finish_elsewhere = [this](ReadOp* op) { FinishReadElsewhere(op); };
    cache_.set_writeback_end_hook([this] { OnWritebackEnd(); });
  }

  // Starts the writeback thread; a volume whose thread could not start is closed unused.
  absl::Status Start() {
    ASSIGN_OR_RETURN(thread_,
                     StartThread(absl::StrCat("the writeback thread of volume ", config_.name),
                                 [this] { Run(); }));
    return absl::OkStatus();
  }

  ~VolumeImpl() override { Close(); }

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
    if (fua && fua_waiting_.load(std::memory_order_relaxed) >= options_.fua_writes_waiting_max) {
      return done(absl::ResourceExhaustedError(
          absl::StrCat("volume ", config_.name, ": ", options_.fua_writes_waiting_max,
                       " FUA writes are waiting for the device; retry later")));
    }
    if (!Admit()) return done(ShuttingDownError());
    ParkedWrite write;
    write.page_index = page_index;
    write.offset_bytes = offset_bytes;
    write.data = data;
    write.fua = fua;
    write.deadline = deadline;
    write.done = std::move(done);
    // FIFO: once writers wait for the dirty limit, new ones queue behind them; a write waiting
    // for its page holds back only later writes to that page.
    const bool behind_limit = throttle_.HasLimitWaiters() || OverDirtyLimit();
    if (behind_limit || throttle_.HasPageWaiter(page_index)) {
      Leave();
      write.waits_for_page = !behind_limit;
      return throttle_.Park(std::move(write));
    }
    bool page_busy = false;
    Page* fua_page = nullptr;
    status = DoWrite(write, /*may_wait=*/false, &page_busy, &fua_page);
    Leave();
    if (page_busy || status.code() == absl::StatusCode::kResourceExhausted) {
      write.waits_for_page = page_busy;
      return throttle_.Park(std::move(write));
    }
    FinishWrite(std::move(write), std::move(status), fua_page);
  }

  void Read(uint64_t page_index, ReadCallback done) override {
    absl::Status status = ValidatePageIndex(config_, page_index);
    if (!status.ok()) return done(std::move(status));
    if (closed_.load(std::memory_order_acquire)) return done(ClosedError());
    // Sampled before the cache is looked at: see ReadOp::Start.
    const uint64_t evictions = cache_.EvictionSeq(page_index);
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
        VolumeCounters::Add(counters_.pages_read);
        VolumeCounters::Add(counters_.bytes_read, config_.page_size_bytes);
        return done(absl::string_view(copy));
      }
    }
    VolumeCounters::Add(counters_.cache_misses);
    ReadOp::Start(&read_context_, page_index, evictions, std::move(done));
  }

  void Flush(absl::optional<ErrorCursor> error_cursor, FlushObserver* observer) override {
    Enqueue(FlushJob::ForFlush(&flush_context_, observer, error_cursor));
  }

  ErrorCursor SampleErrorCursor() const override {
    return MakeErrorCursor(incarnation_, error_seq_.Sample());
  }
  uint32_t incarnation() const override { return incarnation_; }

  void StopAcceptingWrites() override {
    accepting_writes_.store(false, std::memory_order_seq_cst);
    // A barrier: every write admitted before the flag fell has its data in the cache (dirty) when
    // this returns, so the Flush that follows covers it; every later one is refused. Writes only
    // copy into the cache while admitted, never wait for IO, so this wait is short.
    while (writers_admitted_.load(std::memory_order_seq_cst) != 0) {
      absl::SleepFor(absl::Microseconds(20));
    }
    // Parked writers would be let in after the Flush collected its pages: refuse them now.
    throttle_.Close(ShuttingDownError());
  }

  void Close() override {
    if (closed_.load(std::memory_order_acquire)) return;
    StopAcceptingWrites();
    {
      AnnotatedMutexLock lock(&mu_);
      if (closed_.load(std::memory_order_acquire)) return;
      closed_.store(true, std::memory_order_release);
      stop_ = true;
      cv_.Signal();
    }
    if (thread_.joinable()) thread_.join();  // not started if Start failed
    writeback_.WaitIdle();
    ops_.WaitIdle();
  }

 private:
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
    wb.bounce_max_bytes = options.stable_pages ? options.bounce_max_bytes : 0;
    wb.allocation_faults = options.allocation_faults;
    return wb;
  }

  absl::Status ClosedError() const {
    return absl::UnavailableError(absl::StrCat("volume ", config_.name, " is closed"));
  }

  absl::Status ShuttingDownError() const {
    return absl::UnavailableError(
        absl::StrCat("volume ", config_.name, " is shutting down; retry on another server"));
  }

  // A writer is admitted from its check of accepting_writes_ until its data is in the cache
  // (Leave). seq_cst on both sides (a Dekker pair with StopAcceptingWrites): either the writer
  // sees the flag fall, or StopAcceptingWrites sees the writer and waits for it.
  bool Admit() {
    writers_admitted_.fetch_add(1, std::memory_order_seq_cst);
    if (accepting_writes_.load(std::memory_order_seq_cst)) return true;
    Leave();
    return false;
  }
  void Leave() { writers_admitted_.fetch_sub(1, std::memory_order_seq_cst); }

  bool OverDirtyLimit() const {
    // Like balance_dirty_pages: pages under writeback still count, so writers cannot outrun a
    // slow device by having their pages merely in flight.
    const uint64_t pages = cache_.dirty_pages() + cache_.writeback_pages();
    return pages * config_.page_size_bytes >= options_.dirty_limit_bytes;
  }

  bool OverBackgroundThreshold() const {
    return cache_.dirty_pages() * config_.page_size_bytes >= options_.dirty_background_bytes;
  }

  // Copies the data into the cache: no IO, never blocks on IO unless `may_wait` (this volume's
  // thread). With stable pages a page the device may still read is left alone, and without
  // `may_wait` so is a page whose lock a writeback pass holds (PageWriteLock): *page_busy is set
  // and the caller parks the write. A FUA write that succeeded keeps its page pinned in *fua_page
  // for its integrity job (FinishWrite).
  absl::Status DoWrite(const ParkedWrite& write, bool may_wait, bool* page_busy, Page** fua_page) {
    *page_busy = false;
    *fua_page = nullptr;
    absl::StatusOr<Page*> page_or = cache_.FindOrCreate(write.page_index);
    if (!page_or.ok()) return page_or.status();
    Page* page = *page_or;
    {
      PageWriteLock lock(page, may_wait);
      // Stable pages wait while the device may still read the page's bytes: until its bios
      // complete, or, with a backend that copies them as it submits (RBD), only until then.
      if (!lock.locked() || (options_.stable_pages && page->InTransfer())) {
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
      const uint32_t last = (write.offset_bytes + static_cast<uint32_t>(write.data.size())) /
                            config_.block_size_bytes;
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
    // and the device flushed; the reply carries that page's result.
    const uint32_t block = config_.block_size_bytes;
    fua_waiting_.fetch_add(1, std::memory_order_relaxed);
    Enqueue(
        FlushJob::ForFuaWrite(&flush_context_, write.page_index, write.offset_bytes / block,
                              static_cast<uint32_t>(write.data.size()) / block, fua_page,
                              [this, done = std::move(write.done)](absl::Status status) mutable {
                                fua_waiting_.fetch_sub(1, std::memory_order_relaxed);
                                done(std::move(status));
                              }));
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

  void Wake() {
    AnnotatedMutexLock lock(&mu_);
    wake_ = true;
    cv_.Signal();
  }

  void OnWritebackEnd() {
    // Only throttled writers need the thread woken at once; everything else runs on its timer.
    if (throttle_.HasWaiters()) Wake();
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

  // The volume's writeback thread.
  void Run() {
    for (;;) {
      std::deque<FlushJob*> jobs;
      bool stop;
      {
        AnnotatedMutexLock lock(&mu_);
        const absl::Duration wait = throttle_.HasWaiters()
                                        ? std::min(options_.flusher_interval, kParkedPollInterval)
                                        : options_.flusher_interval;
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
    std::deque<FlushJob*> jobs;
    std::deque<ReadOp*> reads;
    {
      AnnotatedMutexLock lock(&mu_);
      jobs.swap(jobs_);
      reads.swap(deferred_reads_);
      reads_finish_inline_ = true;
    }
    for (ReadOp* op : reads) op->FinishBlocking();
    throttle_.Close(ClosedError());
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
    {
      Writeback::Pass pass(&writeback_, SyncMode::kAll, job);
      if (job->single_page()) {
        // A FUA write's page, pinned by its job since the write and until the job finishes.
        WritePageForIntegrity(&pass, job->pinned_page(), job);
      } else {
        for (Page* page : cache_.CollectForFlush()) {
          WritePageForIntegrity(&pass, page, job);
          cache_.Unpin(page);
        }
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
    const int64_t expired_before =
        MonotonicNanos() - absl::ToInt64Nanoseconds(options_.dirty_expire);
    for (;;) {
      if (jobs_pending_.load(std::memory_order_acquire)) return;  // integrity work first
      // Writers waiting for their page need its writeback to end, not more writeback.
      const bool over = OverBackgroundThreshold() || throttle_.HasLimitWaiters();
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

  // Lets parked writers into the cache in FIFO order while the volume is under its dirty limit;
  // a write whose page is busy keeps waiting, with the later writes to that page behind it,
  // while the writes to other pages go on.
  void ServeParkedWriters() {
    std::vector<ParkedWrite> blocked;  // handed out, waiting for their page: in queue order
    absl::flat_hash_set<uint64_t> blocked_pages;
    while (absl::optional<ParkedWrite> write =
               throttle_.NextReady([this] { return OverDirtyLimit(); })) {
      if (blocked_pages.contains(write->page_index)) {
        throttle_.WaitForPage(&*write);  // stays behind the earlier write to its page
        blocked.push_back(std::move(*write));
        continue;
      }
      if (!Admit()) {
        throttle_.Release(*write);
        write->done(ShuttingDownError());
        continue;
      }
      bool page_busy = false;
      Page* fua_page = nullptr;
      absl::Status status = DoWrite(*write, /*may_wait=*/true, &page_busy, &fua_page);
      Leave();
      if (page_busy && absl::Now() < write->deadline) {
        // (Stable pages) the device may still read the page: the end of its writeback wakes
        // this thread.
        throttle_.WaitForPage(&*write);
        blocked_pages.insert(write->page_index);
        blocked.push_back(std::move(*write));
        continue;
      }
      if (status.code() == absl::StatusCode::kResourceExhausted && absl::Now() < write->deadline) {
        // The cache is full of dirty pages: keep waiting, in turn, for room.
        throttle_.WaitForLimit(&*write);
        blocked.push_back(std::move(*write));
        break;
      }
      if (page_busy) {
        status = absl::ResourceExhaustedError(
            absl::StrCat("volume ", config_.name, ": page ", write->page_index,
                         " stayed in writeback until the deadline (stable pages); retry later"));
      }
      throttle_.Release(*write);
      FinishWrite(std::move(*write), std::move(status), fua_page);
    }
    throttle_.Requeue(std::move(blocked));
  }

  const VolumeConfig config_;
  const VolumeOptions options_;
  const uint32_t incarnation_;
  const int fd_;
  const absl::optional<VolumeFile> file_;  // absent for a device the caller owns
  IoBackend* const backend_;
  std::unique_ptr<MemoryBudget> own_budget_;
  VolumeCounters counters_;
  LinearBlockMap block_map_;
  ErrorSeq error_seq_;
  PageCache cache_;
  Writeback writeback_;
  InflightOps ops_;
  FlushJobContext flush_context_;  // set in the constructor, constant afterwards
  ReadOpContext read_context_;     // set in the constructor, constant afterwards
  DirtyThrottle throttle_;
  std::atomic<bool> accepting_writes_{true};
  std::atomic<int64_t> writers_admitted_{0};  // see Admit()
  // FUA writes between FinishWrite and their job's answer (fua_writes_waiting_max).
  std::atomic<int64_t> fua_waiting_{0};
  std::atomic<bool> closed_{false};
  std::atomic<bool> jobs_pending_{false};

  absl::Mutex mu_;
  absl::CondVar cv_;  // the writeback thread waits on it for wake_ or stop_
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<FlushJob*> jobs_ ABSL_GUARDED_BY(mu_);
  std::deque<ReadOp*> deferred_reads_ ABSL_GUARDED_BY(mu_);
  bool reads_finish_inline_ ABSL_GUARDED_BY(mu_) = false;  // the thread takes no more
  std::thread thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Volume>> OpenVolume(const std::string& data_path,
                                                   const VolumeConfig& config,
                                                   const VolumeOptions& options, IoBackend* backend,
                                                   MemoryBudget* budget, bool create,
                                                   uint32_t incarnation) {
  RETURN_IF_ERROR(ValidateVolumeConfig(config));
  ASSIGN_OR_RETURN(VolumeFile file, VolumeFile::Open(data_path, config.size_bytes, create,
                                                     /*reserve_space=*/!options.thin));
  std::unique_ptr<MemoryBudget> own_budget;
  if (budget == nullptr) {
    own_budget = std::make_unique<MemoryBudget>(options.cache_bytes);
    budget = own_budget.get();
  }
  const int fd = file.fd();
  auto volume = std::make_unique<VolumeImpl>(config, options, incarnation, fd, std::move(file),
                                             backend, budget, std::move(own_budget));
  RETURN_IF_ERROR(volume->Start());
  return std::unique_ptr<Volume>(std::move(volume));
}

absl::StatusOr<std::unique_ptr<Volume>> OpenVolumeOnDevice(int device_fd,
                                                           const VolumeConfig& config,
                                                           const VolumeOptions& options,
                                                           IoBackend* backend, MemoryBudget* budget,
                                                           uint32_t incarnation) {
  RETURN_IF_ERROR(ValidateVolumeConfig(config));
  std::unique_ptr<MemoryBudget> own_budget;
  if (budget == nullptr) {
    own_budget = std::make_unique<MemoryBudget>(options.cache_bytes);
    budget = own_budget.get();
  }
  auto volume = std::make_unique<VolumeImpl>(config, options, incarnation, device_fd, absl::nullopt,
                                             backend, budget, std::move(own_budget));
  RETURN_IF_ERROR(volume->Start());
  return std::unique_ptr<Volume>(std::move(volume));
}

absl::StatusOr<std::unique_ptr<Volume>> OpenVolumeOnDeviceForTest(int device_fd,
                                                                  const VolumeConfig& config,
                                                                  const VolumeOptions& options,
                                                                  IoBackend* backend,
                                                                  uint32_t incarnation) {
  return OpenVolumeOnDevice(device_fd, config, options, backend, /*budget=*/nullptr, incarnation);
}

}  // namespace blockstore
