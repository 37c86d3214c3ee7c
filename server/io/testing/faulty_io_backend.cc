#include "server/io/testing/faulty_io_backend.h"

#include <cerrno>
#include <memory>
#include <utility>

#include "glog/logging.h"
#include "server/common/annotated_mutex_lock.h"

namespace blockstore {
namespace {

// The wrapper whose Complete() calls run on this thread right now, if any.
thread_local const FaultyIoBackend* tls_completing = nullptr;

}  // namespace

// What the target sees in place of the caller's request: the same request, or a zero-length or
// truncated write carrying an injected fault. Owned by the wrapper from Submit() until the
// target completes it.
class FaultyIoBackend::Forwarded final : public IoRequest {
 public:
  Forwarded(FaultyIoBackend* owner, IoRequest* original) : owner_(owner), original_(original) {
    op = original->op;
    fd = original->fd;
    offset_bytes = original->offset_bytes;
    iov = original->iov;
    iov_count = original->iov_count;
  }

  void Complete(int32_t res) override { owner_->OnForwardedComplete(this, res); }
  void DataTaken() override { original_->DataTaken(); }

  // Makes this a zero-length write that reports -err.
  void Fail(int err) {
    injected_res_ = -err;
    op = IoOp::kWritev;
    iov = nullptr;
    iov_count = 0;
  }

  // Keeps only the first `bytes` of the write.
  void Truncate(uint64_t bytes) {
    truncated_iov_.clear();
    for (int i = 0; i < original_->iov_count && bytes > 0; ++i) {
      iovec part = original_->iov[i];
      if (part.iov_len > bytes) part.iov_len = bytes;
      bytes -= part.iov_len;
      truncated_iov_.push_back(part);
    }
    iov = truncated_iov_.data();
    iov_count = static_cast<int>(truncated_iov_.size());
  }

  IoRequest* original() const { return original_; }
  int32_t injected_res() const { return injected_res_; }
  // How long the completion is held (slow completion); zero: not held.
  absl::Duration hold() const { return hold_; }
  void set_hold(absl::Duration hold) { hold_ = hold; }

 private:
  FaultyIoBackend* const owner_;
  IoRequest* const original_;
  int32_t injected_res_ = 0;  // < 0: reported instead of the target's result.
  absl::Duration hold_ = absl::ZeroDuration();
  std::vector<iovec> truncated_iov_;
};

FaultyIoBackend::FaultyIoBackend(IoBackend* target) : FaultyIoBackend(target, Options()) {}

FaultyIoBackend::FaultyIoBackend(IoBackend* target, const Options& options)
    : target_(target),
      rng_(options.seed),
      eio_one_in_(options.eio_one_in),
      short_write_one_in_(options.short_write_one_in),
      short_write_align_bytes_(options.short_write_align_bytes) {
  CHECK(target_ != nullptr);
  CHECK_GT(short_write_align_bytes_, 0u);
}

FaultyIoBackend::~FaultyIoBackend() { Shutdown(); }

void FaultyIoBackend::FailBlock(uint64_t device_offset_bytes_of_block, uint32_t block_size,
                                int err) {
  CHECK_GT(block_size, 0u);
  CHECK_GT(err, 0) << "FailBlock takes a positive errno";
  AnnotatedMutexLock lock(&mu_);
  failed_blocks_.push_back({device_offset_bytes_of_block, block_size, err});
}

void FaultyIoBackend::ClearBlockFaults() {
  AnnotatedMutexLock lock(&mu_);
  failed_blocks_.clear();
}

void FaultyIoBackend::FailNthSubmit(uint64_t n, int err) {
  CHECK_GT(n, 0u) << "submits count from 1";
  CHECK_GT(err, 0) << "FailNthSubmit takes a positive errno";
  AnnotatedMutexLock lock(&mu_);
  fail_nth_submit_[n] = err;
}

void FaultyIoBackend::SetEioOneIn(uint32_t n) {
  AnnotatedMutexLock lock(&mu_);
  eio_one_in_ = n;
}

void FaultyIoBackend::ShortWriteOnce(uint32_t bytes) {
  AnnotatedMutexLock lock(&mu_);
  short_write_once_bytes_ = bytes;
}

void FaultyIoBackend::SetShortWriteOneIn(uint32_t n) {
  AnnotatedMutexLock lock(&mu_);
  short_write_one_in_ = n;
}

void FaultyIoBackend::EagainTimes(int n) {
  CHECK_GE(n, 0);
  AnnotatedMutexLock lock(&mu_);
  eagain_left_ = n;
}

void FaultyIoBackend::SetEagainOneIn(uint32_t n) {
  AnnotatedMutexLock lock(&mu_);
  eagain_one_in_ = n;
}

void FaultyIoBackend::SetShortReadOneIn(uint32_t n) {
  AnnotatedMutexLock lock(&mu_);
  short_read_one_in_ = n;
}

void FaultyIoBackend::SetSlowCompletions(absl::Duration delay, uint32_t one_in) {
  CHECK(delay >= absl::ZeroDuration());
  {
    AnnotatedMutexLock lock(&mu_);
    slow_delay_ = delay;
    slow_one_in_ = one_in;
  }
  AnnotatedMutexLock lock(&delay_mu_);
  if (!delay_thread_.joinable() && !delay_exit_) {
    delay_thread_ = std::thread([this] { DelayLoop(); });
  }
}

void FaultyIoBackend::FailAllocationsAt(uint64_t nth, uint64_t count) {
  CHECK_GT(nth, 0u) << "MayAllocate() calls count from 1";
  AnnotatedMutexLock lock(&mu_);
  fail_allocations_nth_ = nth;
  fail_allocations_count_ = count;
}

void FaultyIoBackend::SetOnAllocationFailure(std::function<void()> hook) {
  AnnotatedMutexLock lock(&mu_);
  on_allocation_failure_ = std::move(hook);
}

FaultyIoBackend::FaultCounts FaultyIoBackend::Counts() {
  AnnotatedMutexLock lock(&mu_);
  return counts_;
}

uint64_t FaultyIoBackend::SubmitCalls() {
  AnnotatedMutexLock lock(&mu_);
  return submit_calls_;
}

uint64_t FaultyIoBackend::AllocationCalls() {
  AnnotatedMutexLock lock(&mu_);
  return allocation_calls_;
}

bool FaultyIoBackend::OneIn(uint32_t n) {
  if (n == 0) return false;  // Off: draws nothing, so other faults' sequences do not shift.
  return rng_() % n == 0;
}

bool FaultyIoBackend::TouchesFailedBlockLocked(uint64_t offset, uint64_t bytes, int* err) {
  for (const FailedBlock& block : failed_blocks_) {
    if (offset < block.offset_bytes + block.size_bytes && block.offset_bytes < offset + bytes) {
      *err = block.err;
      return true;
    }
  }
  return false;
}

absl::Status FaultyIoBackend::Submit(IoRequest* request) {
  CHECK(request != nullptr);
  auto forwarded = std::make_unique<Forwarded>(this, request);
  const uint64_t bytes =
      request->op == IoOp::kFdatasync ? 0 : IovecBytes(request->iov, request->iov_count);
  {
    AnnotatedMutexLock lock(&mu_);
    if (shutting_down_ && tls_completing != this) {
      return absl::UnavailableError("FaultyIoBackend is shut down");
    }
    const uint64_t n = ++submit_calls_;
    int err = 0;
    auto nth = fail_nth_submit_.find(n);
    if (nth != fail_nth_submit_.end()) {
      err = nth->second;
      fail_nth_submit_.erase(nth);
      ++counts_.nth_submit_errors;
    } else if (eagain_left_ > 0 || OneIn(eagain_one_in_)) {
      if (eagain_left_ > 0) --eagain_left_;
      err = EAGAIN;
      ++counts_.eagains;
    } else if (request->op == IoOp::kWritev &&
               TouchesFailedBlockLocked(request->offset_bytes, bytes, &err)) {
      ++counts_.bad_block_writes;
    } else if (OneIn(eio_one_in_)) {
      err = EIO;
      ++counts_.random_eios;
    } else if (request->op == IoOp::kWritev) {
      int64_t cut = -1;
      if (short_write_once_bytes_ >= 0 && bytes > static_cast<uint64_t>(short_write_once_bytes_)) {
        cut = short_write_once_bytes_;
        short_write_once_bytes_ = -1;
      } else if (bytes > short_write_align_bytes_ && OneIn(short_write_one_in_)) {
        const uint64_t steps = (bytes - 1) / short_write_align_bytes_;
        cut = static_cast<int64_t>(short_write_align_bytes_ * (1 + rng_() % steps));
      }
      if (cut >= 0) {
        forwarded->Truncate(static_cast<uint64_t>(cut));
        ++counts_.short_writes;
      }
    } else if (request->op == IoOp::kReadv && bytes > short_write_align_bytes_ &&
               OneIn(short_read_one_in_)) {
      const uint64_t steps = (bytes - 1) / short_write_align_bytes_;
      forwarded->Truncate(short_write_align_bytes_ * (1 + rng_() % steps));
      ++counts_.short_reads;
    }
    if (err != 0) forwarded->Fail(err);
    if (slow_delay_ > absl::ZeroDuration() && OneIn(slow_one_in_)) {
      forwarded->set_hold(slow_delay_);
      ++counts_.slow_completions;
    }
  }
  // Released first: a target that completes inside Submit() (FakeIoBackend's
  // complete_in_submit) deletes it in OnForwardedComplete().
  Forwarded* raw = forwarded.release();
  absl::Status status = target_->Submit(raw);
  if (!status.ok()) delete raw;  // Refused: the target will not complete it.
  return status;
}

void FaultyIoBackend::OnForwardedComplete(Forwarded* forwarded, int32_t res) {
  IoRequest* const original = forwarded->original();
  const int32_t result = forwarded->injected_res() < 0 ? forwarded->injected_res() : res;
  const absl::Duration hold = forwarded->hold();
  delete forwarded;
  if (hold > absl::ZeroDuration() && HoldCompletion(original, result, hold)) return;
  const FaultyIoBackend* const outer = tls_completing;
  tls_completing = this;
  original->Complete(result);
  tls_completing = outer;
}

bool FaultyIoBackend::MayAllocate() {
  bool fail;
  std::function<void()> hook;
  {
    AnnotatedMutexLock lock(&mu_);
    const uint64_t n = ++allocation_calls_;
    fail = fail_allocations_nth_ != 0 && n >= fail_allocations_nth_ &&
           n - fail_allocations_nth_ < fail_allocations_count_;
    if (fail) {
      ++counts_.allocation_failures;
      hook = on_allocation_failure_;
    }
  }
  if (!fail) return true;
  // No lock held: the hook may complete requests, which may resubmit through this wrapper.
  if (hook) hook();
  return false;
}

bool FaultyIoBackend::HoldCompletion(IoRequest* original, int32_t res, absl::Duration delay) {
  AnnotatedMutexLock lock(&delay_mu_);
  if (!holding_ || !delay_thread_.joinable()) return false;
  held_.emplace(absl::Now() + delay, Held{original, res});
  delay_cv_.Signal();
  return true;
}

void FaultyIoBackend::DelayLoop() {
  for (;;) {
    Held next;
    {
      AnnotatedMutexLock lock(&delay_mu_);
      for (;;) {
        if (!held_.empty()) {
          auto first = held_.begin();
          const absl::Duration left = first->first - absl::Now();
          if (!holding_ || left <= absl::ZeroDuration()) {
            next = first->second;
            held_.erase(first);
            completing_ = true;
            break;
          }
          lock.WaitWithTimeout(&delay_cv_, left);
        } else if (delay_exit_) {
          return;
        } else {
          drained_cv_.SignalAll();
          lock.Wait(&delay_cv_);
        }
      }
    }
    // Without a lock: the completion may resubmit through this wrapper, and be held again.
    tls_completing = this;
    next.request->Complete(next.res);
    tls_completing = nullptr;
    AnnotatedMutexLock lock(&delay_mu_);
    completing_ = false;
    if (held_.empty()) drained_cv_.SignalAll();
  }
}

void FaultyIoBackend::Shutdown() {
  {
    AnnotatedMutexLock lock(&mu_);
    shutting_down_ = true;
  }
  {
    // Held completions run now, while the target still takes what they resubmit; from here on
    // none is held.
    AnnotatedMutexLock lock(&delay_mu_);
    holding_ = false;
    delay_cv_.SignalAll();
    while (!held_.empty() || completing_) lock.Wait(&drained_cv_);
  }
  target_->Shutdown();
  std::thread delay_thread;
  {
    AnnotatedMutexLock lock(&delay_mu_);
    delay_exit_ = true;
    delay_cv_.SignalAll();
    delay_thread = std::move(delay_thread_);
  }
  if (delay_thread.joinable()) delay_thread.join();
}

}  // namespace blockstore
