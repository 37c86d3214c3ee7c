#include "server/volume/read_op.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/base/dynamic_annotations.h"
#include "absl/strings/str_cat.h"
#include "server/common/annotated_mutex_lock.h"
#include "server/common/io_status.h"

namespace blockstore {

void ReadOp::Start(const ReadOpContext* context, uint64_t page_index, uint64_t evictions_at_submit,
                   Callback done) {
  auto* op = new ReadOp(context, page_index, evictions_at_submit, std::move(done));
  absl::StatusOr<uint8_t*> buffer = context->cache->AllocateBuffer();
  if (buffer.ok()) {
    op->buffer_ = *buffer;
    op->buffer_from_cache_ = true;
  } else {
    // Every cached page is dirty, under writeback or pinned: a read must not fail for that
    // (the writes that filled the cache will drain), so it borrows from the heap this once.
    op->buffer_ = static_cast<uint8_t*>(std::aligned_alloc(4096, op->page_size_bytes_));
    if (op->buffer_ == nullptr) {
      return op->Fail(absl::ResourceExhaustedError("out of memory for a read buffer"));
    }
  }
  op->SubmitRest();
}

ReadOp::ReadOp(const ReadOpContext* context, uint64_t page_index, uint64_t evictions_at_submit,
               Callback done)
    : context_(context),
      page_index_(page_index),
      page_size_bytes_(context->config->page_size_bytes),
      file_bytes_(static_cast<uint32_t>(std::min<uint64_t>(
          page_size_bytes_, context->config->size_bytes - page_index * page_size_bytes_))),
      evictions_at_submit_(evictions_at_submit),
      done_(std::move(done)) {
  context_->ops->Start();
}

ReadOp::~ReadOp() {
  if (buffer_from_cache_) {
    context_->cache->FreeBuffer(buffer_);
  } else {
    std::free(buffer_);
  }
}

void ReadOp::SubmitRest() {
  iovec_.iov_base = buffer_ + bytes_read_;
  iovec_.iov_len = file_bytes_ - bytes_read_;
  op = IoOp::kReadv;
  fd = context_->fd;
  offset_bytes = page_index_ * page_size_bytes_ + bytes_read_;
  iov = &iovec_;
  iov_count = 1;
  if (!context_->backend->Submit(this).ok()) Complete(-ESHUTDOWN);
}

void ReadOp::Complete(int32_t res) {
  if (res == -EAGAIN && ++eagain_retries_ < kMaxEagainRetries) {
    if (context_->backend->Submit(this).ok()) return;
    res = -ESHUTDOWN;
  }
  const uint64_t first_block = page_index_ * context_->config->blocks_per_page();
  if (res < 0) {
    return Fail(IoResultToStatus(res, absl::StrCat("read of page ", page_index_), first_block));
  }
  if (res == 0) {
    // The file is sized to the volume when it is opened: ending early means it was cut since.
    return Fail(absl::DataLossError(
        absl::StrCat("read of page ", page_index_, ": the volume file of ", context_->config->name,
                     " ends at byte ", offset_bytes, ", inside the volume (",
                     context_->config->size_bytes, " bytes)")));
  }
  bytes_read_ += static_cast<uint32_t>(res);
  // A short read is resubmitted for the rest; every round makes progress, so this ends.
  if (bytes_read_ < file_bytes_) return SubmitRest();
  if (file_bytes_ < page_size_bytes_) {
    std::memset(buffer_ + file_bytes_, 0, page_size_bytes_ - file_bytes_);  // past the end
  }
  PageCache& cache = *context_->cache;
  // Pinned first, then the eviction count looked at: once pinned the page cannot go, so if the
  // count has not moved since the read began, any write of these blocks acknowledged before it
  // is either in this page, uptodate (and wins over the file in MergeLocked), or was written
  // back before the read was submitted (and is in the bytes read).
  absl::StatusOr<Page*> page_or = cache.FindOrCreate(page_index_);
  page_ = page_or.ok() ? *page_or : nullptr;
  if (cache.EvictionSeq(page_index_) != evictions_at_submit_) {
    // The page may have been written back and evicted while the read was in flight: the bytes
    // read may predate a write acknowledged before the read began. Read again.
    if (page_ != nullptr) cache.Unpin(std::exchange(page_, nullptr));
    if (++eviction_retries_ > kMaxEvictionRetries) {
      return Fail(absl::UnavailableError(
          absl::StrCat("read of page ", page_index_, " of volume ", context_->config->name,
                       ": the cache kept evicting it while it was read; retry")));
    }
    evictions_at_submit_ = cache.EvictionSeq(page_index_);
    bytes_read_ = 0;
    return SubmitRest();
  }
  result_.assign(reinterpret_cast<const char*>(buffer_), page_size_bytes_);
  if (page_ == nullptr) return Finish();  // the budget holds no room for it: answer uncached
  if (!page_->lock().TryLock()) {
    // The page's lock may be held by a writeback pass that is waiting for a bio, or for room in
    // the backend's queue, which only this thread's completions give back: waiting here could
    // deadlock the volume. Another thread finishes the read instead.
    return context_->finish_elsewhere(this);
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
  const uint32_t block_size = context_->config->block_size_bytes;
  for (uint32_t i = 0; i < page_->block_count(); ++i) {
    const uint32_t offset = i * block_size;
    if (page_->TestBlock(i, kBlockUptodate)) {
      std::memcpy(&result_[offset], page_->data() + offset, block_size);
    } else {
      std::memcpy(page_->data() + offset, buffer_ + offset, block_size);
      page_->SetBlock(i, kBlockUptodate);
    }
  }
}

void ReadOp::Fail(absl::Status status) {
  InflightOps* ops = context_->ops;
  Callback done = std::move(done_);
  delete this;
  done(std::move(status));
  ops->Done();  // after the answer: Volume::Close waits for it
}

void ReadOp::Finish() {
  if (page_ != nullptr) context_->cache->Unpin(page_);
  VolumeCounters::Add(context_->counters->pages_read);
  VolumeCounters::Add(context_->counters->bytes_read, page_size_bytes_);
  InflightOps* ops = context_->ops;
  Callback done = std::move(done_);
  std::string result = std::move(result_);
  delete this;
  done(absl::string_view(result));
  ops->Done();  // after the answer: Volume::Close waits for it
}

}  // namespace blockstore
