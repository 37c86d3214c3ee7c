#include "server/writeback/writeback.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "server/common/annotated_mutex_lock.h"
#include "server/common/clock.h"
#include "server/common/io_status.h"

namespace blockstore {
namespace {

WriteErrorKind ErrorKindFor(int err) {
  switch (err) {
    case EIO:
      return WriteErrorKind::kEio;
    case ENOSPC:
      return WriteErrorKind::kEnospc;
    default:
      return WriteErrorKind::kOther;
  }
}

}  // namespace

Writeback::Writeback(const WritebackConfig& config, BlockMap* block_map, IoBackend* backend,
                     PageCache* cache, ErrorSeq* error_seq, VolumeCounters* counters)
    : config_(config),
      blocks_per_page_(config.page_size_bytes / config.block_size_bytes),
      block_map_(block_map),
      backend_(backend),
      cache_(cache),
      error_seq_(error_seq),
      counters_(counters) {
  CHECK_LE(blocks_per_page_, kMaxBlocksPerPage);
  CHECK_GT(config_.bio_max_vecs, 0u);
  CHECK_GE(config_.bio_max_bytes, config_.block_size_bytes);
  CHECK_GT(config_.max_bios_inflight, 0u);
  // A waiting pass may itself hold one open bio and its IoEnd, which cannot come back while it
  // waits; a quarter of the pool (at most 16) is always reachable by the others.
  pool_wake_batch_ = std::min<size_t>(16, std::max<size_t>(1, config_.max_bios_inflight / 4));
}

Writeback::~Writeback() {
  AnnotatedMutexLock lock(&pool_mu_);
  CHECK_EQ(free_bios_.size(), bios_.size()) << "bios still in flight";
  CHECK_EQ(free_io_ends_.size(), io_ends_.size()) << "IoEnds still in flight";
}

bool Writeback::MayAllocate() {
  return config_.allocation_faults == nullptr || config_.allocation_faults->MayAllocate();
}

uint32_t Writeback::PageLengthInVolume(uint64_t index) const {
  const uint64_t start = index * config_.page_size_bytes;
  if (start >= config_.size_bytes) return 0;
  const uint64_t left = config_.size_bytes - start;
  return left < config_.page_size_bytes ? static_cast<uint32_t>(left) : config_.page_size_bytes;
}

// ---------------------------------------------------------------------------------------------
// Pass: ext4_io_submit.

Writeback::Pass::Pass(Writeback* writeback, SyncMode mode, WritebackObserver* observer)
    : wb_(writeback), mode_(mode), observer_(observer) {}

Writeback::Pass::~Pass() { Finish(); }

void Writeback::Pass::SubmitOpenBio() {
  if (bio_ == nullptr) return;
  Bio* bio = bio_;
  bio_ = nullptr;
  wb_->SubmitBio(bio);
}

void Writeback::Pass::DropIoEnd() {
  if (io_end_ == nullptr) return;
  IoEnd* io_end = io_end_;
  io_end_ = nullptr;
  io_end->Put();
}

void Writeback::Pass::Finish() {
  if (finished_) return;
  finished_ = true;
  SubmitOpenBio();
  DropIoEnd();  // the extent's pages can end only once every bio of it is queued
}

absl::Status Writeback::Pass::WritePage(Page* page, bool* writeback_started) {
  if (writeback_started != nullptr) *writeback_started = false;
  Writeback* wb = wb_;
  VolumeCounters* counters = wb->counters_;
  const uint32_t block_size = wb->config_.block_size_bytes;
  const uint32_t blocks = page->block_count();
  const uint32_t len = wb->PageLengthInVolume(page->index());
  CHECK(!page->IsWriteback()) << "page " << page->index() << " already under writeback (R1)";
  page->ClearFlags(kPageRetry);

  // R3: bytes past EOF must never reach the device. Zero the tail once, at the top.
  if (len < page->page_size_bytes()) {
    std::memset(page->data() + len, 0, page->page_size_bytes() - len);
  }

  // Pass 1: mark every buffer that will be written as under IO before submitting any (R6),
  // so no completion can see the page without IO while we are still adding buffers.
  uint64_t device_blocks[kMaxBlocksPerPage];
  uint32_t to_submit = 0;
  bool keep_dirty = false;
  RedirtyReason keep_dirty_reason = RedirtyReason::kDelay;
  const uint64_t first_logical = page->index() * blocks;
  for (uint32_t i = 0; i < blocks; ++i) {
    const uint32_t block_start = i * block_size;
    if (block_start >= len) {
      // Wholly past EOF: zeroed above, clean and uptodate, never submitted (R3).
      page->ClearBlock(i, kBlockDirty);
      page->SetBlock(i, kBlockUptodate);
      continue;
    }
    bool skip = !page->TestBlock(i, kBlockDirty);
    if (!skip) {
      const BlockMapping mapping = wb->block_map_->Map(first_logical + i);
      switch (mapping.kind) {
        case BlockMapping::Kind::kHole:
          // "A hole: we can safely clear the dirty bit" (R4).
          page->ClearBlock(i, kBlockDirty | kBlockMapped);
          skip = true;
          break;
        case BlockMapping::Kind::kDelayed:
        case BlockMapping::Kind::kUnwritten:
          // The caller allocates or converts these; they stay dirty (R4).
          page->SetBlock(i, kBlockDelay);
          keep_dirty = true;
          keep_dirty_reason = mapping.kind == BlockMapping::Kind::kDelayed
                                  ? RedirtyReason::kDelay
                                  : RedirtyReason::kUnwritten;
          skip = true;
          break;
        case BlockMapping::Kind::kMapped:
          page->ClearBlock(i, kBlockDelay);
          page->SetBlock(i, kBlockMapped);
          if (mapping.is_new) {
            // R5: drop any stale alias of the device block before new data goes to it.
            wb->block_map_->InvalidateAlias(mapping.device_block);
            page->ClearBlock(i, kBlockNew);
          }
          device_blocks[i] = mapping.device_block;
          break;
      }
    }
    if (skip) {
      if (wb->config_.submit_on_skipped_buffer && bio_ != nullptr) {
        VolumeCounters::Add(counters->bio_splits[static_cast<int>(BioSplitReason::kSkippedBuffer)]);
        SubmitOpenBio();
      }
      continue;
    }
    page->SetBlock(i, kBlockAsyncWrite);
    ++to_submit;
  }

  if (to_submit == 0) {
    // R12 / D5: nothing to write, so the page never enters writeback.
    VolumeCounters::Add(counters->nothing_submitted);
    if (!keep_dirty) {
      wb->cache_->ClearDirtyForIo(page);
    } else {
      VolumeCounters::Add(counters->redirtied[static_cast<int>(keep_dirty_reason)]);
    }
    return absl::OkStatus();
  }

  wb->cache_->ClearDirtyAndStartWriteback(page);  // clear_page_dirty_for_io + set_page_writeback
  if (writeback_started != nullptr) *writeback_started = true;
  page->ClearError();  // R2: the page error reflects this attempt only
  VolumeCounters::Add(counters->buffers_under_io, static_cast<int64_t>(to_submit));

  // Pass 2: add the marked buffers to bios. A buffer's dirty bit is cleared only once it is in
  // a bio (R11), so a write racing with this pass is never lost.
  absl::Status status;
  uint32_t failed_at = blocks;
  for (uint32_t i = 0; i < blocks; ++i) {
    if (!page->TestBlock(i, kBlockAsyncWrite)) {
      // 3.10 policy (R4): a skipped buffer inside EOF submits the open bio. Pass 1 could only
      // submit the bio carried from earlier pages; this page's own buffers join bios here, so
      // the bio holding them must go out here, when the skipped buffer is met.
      if (wb->config_.submit_on_skipped_buffer && bio_ != nullptr && i * block_size < len) {
        VolumeCounters::Add(counters->bio_splits[static_cast<int>(BioSplitReason::kSkippedBuffer)]);
        SubmitOpenBio();
      }
      continue;
    }
    status = AddBuffer(page, i, first_logical + i, device_blocks[i]);
    if (!status.ok()) {
      failed_at = i;
      break;
    }
    page->ClearBlock(i, kBlockDirty);
  }

  if (!status.ok()) {
    // R13: only a resource failure gets here. Redirty, and take the failing buffer and every
    // later one out of IO. R14: do it under the completion lock and end the writeback here if
    // no buffer is left under IO, because a bio of this page may already have completed, seen
    // these marks, and left the ending to us.
    ++pages_skipped_;
    VolumeCounters::Add(counters->redirtied[static_cast<int>(RedirtyReason::kEnomem)]);
    if (mode_ == SyncMode::kAll) page->SetFlags(kPageRetry);
    wb->cache_->MarkDirty(page);
    uint32_t under_io = 0;
    int64_t cleared = 0;
    {
      SpinLockHolder lock(&page->completion_lock());
      for (uint32_t i = failed_at; i < blocks; ++i) {
        if (page->TestClearBlock(i, kBlockAsyncWrite)) ++cleared;
      }
      for (uint32_t i = 0; i < blocks; ++i) {
        if (page->TestBlock(i, kBlockAsyncWrite)) ++under_io;
      }
    }
    VolumeCounters::Add(counters->buffers_under_io, -cleared);
    if (under_io == 0) wb->EndPageWriteback(page, observer_);
    return status;
  }
  if (keep_dirty) {
    VolumeCounters::Add(counters->redirtied[static_cast<int>(keep_dirty_reason)]);
    wb->cache_->MarkDirty(page);
  }
  return absl::OkStatus();
}

// io_submit_add_bh.
absl::Status Writeback::Pass::AddBuffer(Page* page, uint32_t block, uint64_t logical_block,
                                        uint64_t device_block) {
  Writeback* wb = wb_;
  VolumeCounters* counters = wb->counters_;
  const uint32_t block_size = wb->config_.block_size_bytes;
  bool new_extent = io_end_ == nullptr;
  if (bio_ != nullptr || io_end_ != nullptr) {
    if (device_block != next_device_block_) {
      // R7: only physically contiguous buffers share a bio.
      if (bio_ != nullptr) {
        VolumeCounters::Add(counters->bio_splits[static_cast<int>(BioSplitReason::kDiscontiguous)]);
      }
      new_extent = true;
    } else if (logical_block != next_logical_block_) {
      // R9: a bio and its IoEnd describe one range of the volume too.
      if (bio_ != nullptr) {
        VolumeCounters::Add(counters->bio_splits[static_cast<int>(BioSplitReason::kLogicalGap)]);
      }
      new_extent = true;
    }
  }
  if (new_extent) {
    SubmitOpenBio();
    DropIoEnd();
  }
  for (;;) {
    if (bio_ == nullptr) {
      if (io_end_ == nullptr) {
        if (!wb->MayAllocate()) {
          return absl::ResourceExhaustedError("could not allocate an IoEnd");
        }
        io_end_ = wb->AllocateIoEnd();
        io_end_->Reset(observer_, logical_block * block_size);
      }
      if (!wb->MayAllocate()) {
        return absl::ResourceExhaustedError("could not allocate a bio");
      }
      bio_ = wb->AllocateBio();
      io_end_->Get();
      bio_->Reset(io_end_, wb->config_.fd, device_block, block_size);
    } else {
      VolumeCounters::Add(counters->bio_merges);
    }
    if (bio_->Add(page, block * block_size, block_size, wb->config_.bio_max_bytes)) break;
    // R8: the bio is full: submit it and retry the same buffer in a new bio of this extent.
    VolumeCounters::Add(counters->bio_splits[static_cast<int>(BioSplitReason::kFull)]);
    SubmitOpenBio();
  }
  // R10: account only after a successful add.
  io_end_->AddBytes(block_size);
  next_device_block_ = device_block + 1;
  next_logical_block_ = logical_block + 1;
  page->SetBlock(block, kBlockReq);
  page->ClearBlock(block, kBlockWriteError);  // R22: a new submission clears the old error
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Submission and completion.

void Writeback::SubmitBio(Bio* bio) {
  if (bio->submitted_ns() == 0) {
    bio->PrepareSubmit(config_.bounce_max_bytes);
    bio->set_submitted_ns(MonotonicNanos());
    VolumeCounters::Add(counters_->bios_submitted);
    VolumeCounters::Add(counters_->bios_inflight, 1);
    counters_->bio_bytes.Observe(bio->bytes());
    counters_->bio_vecs.Observe(bio->vec_count());
  }
  const absl::Status status = backend_->Submit(bio);
  if (!status.ok()) {
    LOG(ERROR) << "volume " << config_.volume_name << ": bio at device block "
               << bio->device_block() << " refused: " << status;
    EndBio(bio, ESHUTDOWN);
  }
}

void Writeback::EndBio(Bio* bio, int err) {
  const uint32_t block_size = config_.block_size_bytes;
  DCHECK_EQ(bio->bytes() % block_size, 0u);
  counters_->bio_latency_seconds.Observe(
      static_cast<double>(MonotonicNanos() - bio->submitted_ns()) * 1e-9);
  // The device has read every byte it will (or the backend took them earlier): writers waiting
  // for stable pages may go on, before any page of the bio ends its writeback (R16).
  bio->EndTransfers();
  IoEnd* io_end = bio->io_end();
  WritebackObserver* observer = io_end->observer();
  if (err != 0) {
    // Latched before any page of this bio is reported ended: a Flush that learns its last page
    // ended may run its fdatasync and CheckAndAdvance at once, and must find the error (R21).
    io_end->SetError(err);
    error_seq_->Set(err);
  }
  for (uint32_t v = 0; v < bio->vec_count(); ++v) {
    const Bio::Vec& vec = bio->vec(v);
    Page* page = vec.page;
    const uint32_t vec_start = vec.offset_bytes;
    const uint32_t vec_end = vec.offset_bytes + vec.length_bytes;
    uint32_t under_io = 0;
    int64_t cleared = 0;
    {
      // Every buffer of the page is examined under the page's completion lock, so two bios of
      // one page completing at once agree on which of them ends the page's writeback (R18).
      SpinLockHolder lock(&page->completion_lock());
      for (uint32_t i = 0; i < page->block_count(); ++i) {
        const uint32_t block_start = i * block_size;
        if (block_start < vec_start || block_start + block_size > vec_end) {
          if (page->TestBlock(i, kBlockAsyncWrite)) ++under_io;
          continue;
        }
        if (page->TestClearBlock(i, kBlockAsyncWrite)) ++cleared;
        if (err != 0) {
          page->SetBlock(i, kBlockWriteError);
          VolumeCounters::Add(counters_->buffer_io_errors);
          LogBufferError(*page, i, err);
        }
      }
      if (err != 0) page->SetError(err);
    }
    // Accounted before the page can end: whoever learns that the writeback ended (a Flush, and
    // its caller reading Stats()) must not still see these buffers under IO (R30).
    VolumeCounters::Add(counters_->buffers_under_io, -cleared);
    if (under_io == 0) EndPageWriteback(page, observer);
  }
  if (err != 0) {
    // Failed buffers stay clean: the data is not retried by itself (R20).
    VolumeCounters::Add(counters_->write_errors[static_cast<int>(ErrorKindFor(err))]);
    LOG_EVERY_N(WARNING, 1) << "volume " << config_.volume_name << ": write of "
                            << bio->bytes() / block_size << " blocks at device block "
                            << bio->device_block() << " (in the extent at volume offset "
                            << io_end->logical_offset_bytes() << ") failed: " << std::strerror(err);
  }
  VolumeCounters::Add(counters_->bios_inflight, -1);
  FreeBio(bio);
  io_end->Put();
}

void Writeback::EndPageWriteback(Page* page, WritebackObserver* observer) {
  // The result is read before the flag clears: after that another pass may start on the page
  // and reset its error state (R2).
  PageResult result;
  bool will_retry = false;
  const bool failed = page->HasError();
  if (observer != nullptr) {
    result.page_index = page->index();
    will_retry = (page->flags() & kPageRetry) != 0;
    if (failed) {
      const int err = page->error_errno() != 0 ? page->error_errno() : EIO;
      for (uint32_t i = 0; i < page->block_count(); ++i) {
        if (page->TestBlock(i, kBlockWriteError)) result.failed_blocks.push_back(i);
      }
      result.status =
          IoResultToStatus(-err, absl::StrCat("write of page ", page->index()),
                           page->index() * page->block_count() +
                               (result.failed_blocks.empty() ? 0 : result.failed_blocks.front()));
    }
  }
  if (!cache_->EndWriteback(page)) {
    // R19: fatal in the kernel. Count it (the metric must stay 0) and keep serving.
    VolumeCounters::Add(counters_->double_end_writeback);
    LOG(DFATAL) << "volume " << config_.volume_name << ": end of writeback of page "
                << result.page_index << " which is not under writeback";
    return;
  }
  if (failed) VolumeCounters::Add(counters_->pages_error);
  if (observer != nullptr) observer->OnPageWritebackEnd(result, will_retry);
}

void Writeback::LogBufferError(const Page& page, uint32_t block, int err) {
  // buffer_io_error, rate limited as the kernel's printk_ratelimited.
  LOG_EVERY_N(ERROR, 100) << "Buffer I/O error on volume " << config_.volume_name
                          << ", logical block " << page.index() * page.block_count() + block
                          << " (page " << page.index() << ", block " << block
                          << "): " << std::strerror(err) << " [" << google::COUNTER
                          << " such errors]";
}

// ---------------------------------------------------------------------------------------------
// Pools.

Bio* Writeback::AllocateBio() {
  AnnotatedMutexLock lock(&pool_mu_);
  // A loop on a CondVar, not Mutex::Await: abseil would evaluate an Await condition on the
  // unlocking thread, where ThreadSanitizer cannot see the lock (annotated_mutex_lock.h).
  while (free_bios_.empty() && bios_.size() >= config_.max_bios_inflight) {
    ++pool_waiters_;
    lock.Wait(&pool_cv_);
    --pool_waiters_;
  }
  Bio* bio;
  if (!free_bios_.empty()) {
    bio = free_bios_.back();
    free_bios_.pop_back();
  } else {
    bios_.push_back(std::make_unique<Bio>(this, config_.bio_max_vecs));
    bio = bios_.back().get();
  }
  bio->set_submitted_ns(0);
  return bio;
}

void Writeback::FreeBio(Bio* bio) {
  AnnotatedMutexLock lock(&pool_mu_);
  free_bios_.push_back(bio);
  if (pool_waiters_ > 0 &&
      (free_bios_.size() >= pool_wake_batch_ || free_bios_.size() == bios_.size())) {
    pool_cv_.SignalAll();
  }
}

IoEnd* Writeback::AllocateIoEnd() {
  AnnotatedMutexLock lock(&pool_mu_);
  // One IoEnd per bio in flight plus the one a pass is filling.
  const size_t limit = config_.max_bios_inflight + 2;
  while (free_io_ends_.empty() && io_ends_.size() >= limit) {
    ++pool_waiters_;
    lock.Wait(&pool_cv_);
    --pool_waiters_;
  }
  IoEnd* io_end;
  if (!free_io_ends_.empty()) {
    io_end = free_io_ends_.back();
    free_io_ends_.pop_back();
  } else {
    io_ends_.push_back(std::make_unique<IoEnd>(this));
    io_end = io_ends_.back().get();
  }
  VolumeCounters::Add(counters_->ioends_inflight, 1);
  return io_end;
}

void Writeback::ReleaseIoEnd(IoEnd* io_end) {
  VolumeCounters::Add(counters_->ioends_inflight, -1);
  AnnotatedMutexLock lock(&pool_mu_);
  free_io_ends_.push_back(io_end);
  if (pool_waiters_ > 0 &&
      (free_io_ends_.size() >= pool_wake_batch_ || free_io_ends_.size() == io_ends_.size())) {
    pool_cv_.SignalAll();
  }
}

void Writeback::WaitIdle() {
  AnnotatedMutexLock lock(&pool_mu_);
  while (free_bios_.size() != bios_.size() || free_io_ends_.size() != io_ends_.size()) {
    ++pool_waiters_;
    lock.Wait(&pool_cv_);
    --pool_waiters_;
  }
}

}  // namespace blockstore
