#include "server/writeback/bio.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "glog/logging.h"
#include "server/cache/page.h"
#include "server/common/volume_counters.h"
#include "server/writeback/writeback.h"

namespace blockstore {

Bio::Bio(Writeback* owner, uint32_t max_vecs)
    : owner_(owner), max_vecs_(max_vecs), vecs_(new Vec[max_vecs]), iovecs_(new iovec[max_vecs]) {}

void Bio::Reset(IoEnd* io_end, int fd, uint64_t device_block, uint32_t block_size_bytes) {
  io_end_ = io_end;
  op = IoOp::kWritev;
  this->fd = fd;
  device_block_ = device_block;
  block_size_bytes_ = block_size_bytes;
  offset_bytes = device_block * block_size_bytes;
  bytes_ = 0;
  vec_count_ = 0;
  eagain_retries_ = 0;
  transfers_ended_ = false;
  bounced_ = false;
  iov = nullptr;
  iov_count = 0;
}

bool Bio::Add(Page* page, uint32_t offset_bytes, uint32_t length_bytes, uint32_t max_bytes) {
  if (bytes_ + length_bytes > max_bytes) return false;
  if (vec_count_ > 0) {
    Vec& last = vecs_[vec_count_ - 1];
    if (last.page == page && last.offset_bytes + last.length_bytes == offset_bytes) {
      last.length_bytes += length_bytes;  // the segment continues the last vector
      bytes_ += length_bytes;
      return true;
    }
  }
  if (vec_count_ == max_vecs_) return false;
  vecs_[vec_count_++] = Vec{page, offset_bytes, length_bytes};
  bytes_ += length_bytes;
  page->BeginTransfer();
  return true;
}

void Bio::EndTransfers() {
  if (transfers_ended_) return;
  transfers_ended_ = true;
  for (uint32_t i = 0; i < vec_count_; ++i) vecs_[i].page->EndTransfer();
}

void Bio::PrepareSubmit(uint32_t bounce_max_bytes) {
  if (bytes_ > 0 && bytes_ <= bounce_max_bytes) {
    if (bounce_bytes_ < bounce_max_bytes) {
      void* buffer = nullptr;
      // O_DIRECT needs the buffer aligned like the page data: to 4 KiB, the largest block.
      CHECK_EQ(posix_memalign(&buffer, 4096, bounce_max_bytes), 0) << "bounce buffer";
      bounce_.reset(static_cast<uint8_t*>(buffer));
      bounce_bytes_ = bounce_max_bytes;
    }
    // The pages are in transfer (writers with stable pages wait), so these bytes are stable.
    uint32_t at = 0;
    for (uint32_t i = 0; i < vec_count_; ++i) {
      std::memcpy(bounce_.get() + at, vecs_[i].page->data() + vecs_[i].offset_bytes,
                  vecs_[i].length_bytes);
      at += vecs_[i].length_bytes;
    }
    iovecs_[0].iov_base = bounce_.get();
    iovecs_[0].iov_len = bytes_;
    iov = iovecs_.get();
    iov_count = 1;
    bounced_ = true;
    EndTransfers();
  } else {
    for (uint32_t i = 0; i < vec_count_; ++i) {
      iovecs_[i].iov_base = vecs_[i].page->data() + vecs_[i].offset_bytes;
      iovecs_[i].iov_len = vecs_[i].length_bytes;
    }
    iov = iovecs_.get();
    iov_count = static_cast<int>(vec_count_);
  }
  // Paired with the check in Complete: O_DIRECT needs block-aligned offsets and lengths.
  CHECK_EQ(offset_bytes % block_size_bytes_, 0u);
  CHECK_EQ(bytes_ % block_size_bytes_, 0u);
}

void Bio::Complete(int32_t res) {
  VolumeCounters* counters = owner_->counters();
  if (transfers_ended_ && !bounced_ &&
      (res == -EAGAIN || (res >= 0 && static_cast<uint64_t>(res) < IovecBytes(iov, iov_count)))) {
    // The backend said it had taken the bytes, and writers may have changed them since: a
    // resubmission could tear a block. A backend that takes the bytes never answers so.
    LOG(ERROR) << "bio at device block " << device_block_ << ": result " << res
               << " after the backend took its bytes; failing it";
    owner_->EndBio(this, EIO);
    return;
  }
  if (res == -EAGAIN && eagain_retries_ < kMaxEagainRetries) {
    // liburing#766: EAGAIN is "try again", never a success and never a final error.
    ++eagain_retries_;
    VolumeCounters::Add(counters->write_errors[static_cast<int>(WriteErrorKind::kEagainRetry)]);
    owner_->SubmitBio(this);
    return;
  }
  if (res >= 0) {
    const uint64_t remaining = IovecBytes(iov, iov_count);
    if (static_cast<uint64_t>(res) < remaining) {
      if (res == 0) {
        // No progress: resubmitting could spin forever. A failed write, not a success (R17).
        owner_->EndBio(this, EIO);
        return;
      }
      // Short write: advance past what was written and submit the rest (io-uring-cp).
      VolumeCounters::Add(counters->write_errors[static_cast<int>(WriteErrorKind::kShort)]);
      uint64_t done = static_cast<uint64_t>(res);
      offset_bytes += done;
      while (done > 0) {
        if (done >= iov->iov_len) {
          done -= iov->iov_len;
          ++iov;
          --iov_count;
        } else {
          iov->iov_base = static_cast<uint8_t*>(iov->iov_base) + done;
          iov->iov_len -= done;
          done = 0;
        }
      }
      owner_->SubmitBio(this);
      return;
    }
    owner_->EndBio(this, 0);
    return;
  }
  owner_->EndBio(this, -res);
}

}  // namespace blockstore
