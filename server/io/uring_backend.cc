#include "server/io/uring_backend.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "server/common/annotated_mutex_lock.h"
#include "server/common/status_macros.h"
#include "server/common/thread_start.h"

namespace blockstore {
namespace {

// user_data of the eventfd read. Odd, so it can never be an (aligned) IoRequest*.
constexpr uint64_t kWakeupUserData = 1;

// CQEs dispatched per peek.
constexpr unsigned kReapBatchMax = 64;

// io_uring's IORING_MAX_ENTRIES.
constexpr unsigned kQueueDepthMax = 32768;

// The backend whose ring loop runs on this thread, if any.
thread_local const UringBackend* tls_ring_owner = nullptr;

}  // namespace

absl::StatusOr<std::unique_ptr<UringBackend>> UringBackend::Create(const Options& options) {
  if (options.queue_depth == 0 || options.queue_depth > kQueueDepthMax) {
    return absl::InvalidArgumentError(absl::StrCat("UringBackend queue_depth must be 1..",
                                                   kQueueDepthMax, ", got ", options.queue_depth));
  }
  if (options.submit_queue_max == 0) {
    return absl::InvalidArgumentError("UringBackend submit_queue_max must be at least 1");
  }
  std::unique_ptr<UringBackend> backend(new UringBackend(options));
  RETURN_IF_ERROR(backend->Init());
  return backend;
}

UringBackend::UringBackend(const Options& options) : options_(options) {}

UringBackend::~UringBackend() { Shutdown(); }

absl::Status UringBackend::Init() {
  const int ret = io_uring_queue_init(options_.queue_depth, &ring_, 0);
  if (ret < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("io_uring unavailable (likely seccomp): io_uring_queue_init(",
                     options_.queue_depth, "): ", std::strerror(-ret)));
  }
  ring_initialized_ = true;
  event_fd_ = eventfd(0, EFD_CLOEXEC);
  if (event_fd_ < 0) {
    const int err = errno;
    return absl::ErrnoToStatus(err, "UringBackend: eventfd");
  }
  // The thread's start synchronizes with everything above: from here the ring belongs to it.
  ASSIGN_OR_RETURN(ring_thread_, StartThread("the io_uring ring thread", [this] { RingLoop(); }));
  return absl::OkStatus();
}

bool UringBackend::InRingThread() const { return tls_ring_owner == this; }

UringBackend::Stats UringBackend::GetStats() const {
  Stats stats;
  stats.requests_submitted = stat_submitted_.load(std::memory_order_relaxed);
  stats.requests_completed = stat_completed_.load(std::memory_order_relaxed);
  stats.inflight = stat_inflight_.load(std::memory_order_relaxed);
  stats.inflight_high_water = stat_inflight_high_water_.load(std::memory_order_relaxed);
  return stats;
}

absl::Status UringBackend::Submit(IoRequest* request) {
  CHECK(request != nullptr);
  if (InRingThread()) {
    // A Complete() resubmitting. Blocking here would deadlock: only this thread drains queue_.
    staged_.push_back(request);
    stat_submitted_.fetch_add(1, std::memory_order_relaxed);
    return absl::OkStatus();
  }
  AnnotatedMutexLock lock(&mu_);
  while (!shutting_down_ && queue_.size() >= options_.submit_queue_max) lock.Wait(&not_full_);
  if (shutting_down_) return absl::UnavailableError("UringBackend is shut down");
  // The ring thread leaves queue_ non-empty only while the ring holds queue_depth requests, and
  // then a completion wakes it; so only the first request into an empty queue needs a wakeup.
  if (queue_.empty()) Wake();
  queue_.push_back(request);
  stat_submitted_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

// Under mu_ so that Shutdown() cannot close the eventfd between a Submit() and its Wake().
void UringBackend::Wake() {
  const uint64_t one = 1;
  // eventfd writes fail only if the counter would overflow 2^64-2: not with one per request.
  PCHECK(write(event_fd_, &one, sizeof(one)) == static_cast<ssize_t>(sizeof(one)))
      << "UringBackend: eventfd write";
}

void UringBackend::Shutdown() {
  CHECK(!InRingThread()) << "UringBackend::Shutdown() called from the ring thread";
  std::call_once(shutdown_once_, [this] {
    if (ring_thread_.joinable()) {
      {
        AnnotatedMutexLock lock(&mu_);
        shutting_down_ = true;
        Wake();
        not_full_.SignalAll();
      }
      ring_thread_.join();
    }
    if (ring_initialized_) io_uring_queue_exit(&ring_);
    if (event_fd_ >= 0) close(event_fd_);
  });
}

void UringBackend::RingLoop() {
  tls_ring_owner = this;
  for (;;) {
    const bool draining = FillRing();
    if (draining && staged_.empty() && inflight_ == 0 && !wakeup_armed_) break;
    // The one place this thread sleeps: a completion or a Wake() (through the eventfd read)
    // ends it.
    io_uring_cqe* cqe;
    const int ret = io_uring_wait_cqe(&ring_, &cqe);
    if (ret == -EINTR) continue;
    CHECK_EQ(ret, 0) << "io_uring_wait_cqe: " << std::strerror(-ret);
    ReapCompletions();
  }
  tls_ring_owner = nullptr;
}

bool UringBackend::FillRing() {
  DCHECK(InRingThread());
  bool shutting_down;
  bool queue_empty;
  {
    AnnotatedMutexLock lock(&mu_);
    shutting_down = shutting_down_;
    size_t room = options_.queue_depth - inflight_;
    room = staged_.size() >= room ? 0 : room - staged_.size();
    const size_t moved = std::min(room, queue_.size());
    for (size_t i = 0; i < moved; ++i) {
      staged_.push_back(queue_.front());
      queue_.pop_front();
    }
    if (moved > 0) not_full_.SignalAll();
    queue_empty = queue_.empty();
  }
  // Once shutting down, the final Wake() completes the armed read and it is not armed again.
  if (!shutting_down && !wakeup_armed_) {
    io_uring_sqe* sqe = GetSqe();
    if (sqe != nullptr) {
      io_uring_prep_read(sqe, event_fd_, &wakeup_value_, sizeof(wakeup_value_), 0);
      io_uring_sqe_set_data64(sqe, kWakeupUserData);
      wakeup_armed_ = true;
    }
  }
  while (!staged_.empty() && inflight_ < options_.queue_depth) {
    io_uring_sqe* sqe = GetSqe();
    if (sqe == nullptr) break;  // The kernel took none of the SQ; the rest stay staged.
    IoRequest* request = staged_.front();
    staged_.pop_front();
    switch (request->op) {
      // One iovec (every bio of a random 4 KiB write): the plain opcode, so the kernel does not
      // copy and check an iovec array per request (copy_iovec_from_user, 2 % of the ring
      // thread's CPU on the service bench's random row). Same result, same short-IO rules.
      case IoOp::kWritev:
        if (request->iov_count == 1) {
          io_uring_prep_write(sqe, request->fd, request->iov[0].iov_base,
                              static_cast<unsigned>(request->iov[0].iov_len),
                              request->offset_bytes);
        } else {
          io_uring_prep_writev(sqe, request->fd, request->iov, request->iov_count,
                               request->offset_bytes);
        }
        break;
      case IoOp::kReadv:
        if (request->iov_count == 1) {
          io_uring_prep_read(sqe, request->fd, request->iov[0].iov_base,
                             static_cast<unsigned>(request->iov[0].iov_len), request->offset_bytes);
        } else {
          io_uring_prep_readv(sqe, request->fd, request->iov, request->iov_count,
                              request->offset_bytes);
        }
        break;
      case IoOp::kFdatasync:
        io_uring_prep_fsync(sqe, request->fd, IORING_FSYNC_DATASYNC);
        break;
      default:
        LOG(FATAL) << "unknown IoOp " << static_cast<int>(request->op);
    }
    io_uring_sqe_set_data(sqe, request);
    ++inflight_;
  }
  stat_inflight_.store(inflight_, std::memory_order_relaxed);
  if (inflight_ > stat_inflight_high_water_.load(std::memory_order_relaxed)) {
    stat_inflight_high_water_.store(inflight_, std::memory_order_relaxed);
  }
  if (io_uring_sq_ready(&ring_) > 0) SubmitToKernel();
  return shutting_down && queue_empty;
}

// When the SQ is full, submits what is there to make room.
io_uring_sqe* UringBackend::GetSqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe != nullptr) return sqe;
  SubmitToKernel();
  return io_uring_get_sqe(&ring_);
}

void UringBackend::SubmitToKernel() {
  // Bounded: EAGAIN/EBUSY are transient (kernel memory, or CQ backlog, which the in-flight cap
  // prevents); past the limit the SQEs stay in the SQ and the next loop submits them.
  constexpr int kBusyRetryMax = 1000;
  for (int attempt = 0;; ++attempt) {
    const int ret = io_uring_submit(&ring_);
    if (ret >= 0 || ret == -EINTR) {
      if (ret >= 0) return;
      continue;
    }
    if ((ret == -EAGAIN || ret == -EBUSY) && attempt < kBusyRetryMax) {
      // With completions to reap the loop can make progress; otherwise wait a little: a wait
      // for a CQE could sleep forever if nothing reached the kernel.
      if (io_uring_cq_ready(&ring_) > 0) return;
      absl::SleepFor(absl::Milliseconds(1));
      continue;
    }
    // EBADF, EFAULT, EINVAL, ENXIO: the ring itself is broken, a programming error.
    LOG(FATAL) << "io_uring_submit: " << std::strerror(-ret);
  }
}

void UringBackend::ReapCompletions() {
  DCHECK(InRingThread());
  io_uring_cqe* cqes[kReapBatchMax];
  unsigned count;
  while ((count = io_uring_peek_batch_cqe(&ring_, cqes, kReapBatchMax)) > 0) {
    for (unsigned i = 0; i < count; ++i) {
      const int32_t res = cqes[i]->res;
      if (io_uring_cqe_get_data64(cqes[i]) == kWakeupUserData) {
        wakeup_armed_ = false;
        LOG_IF(WARNING, res < 0) << "UringBackend: eventfd read failed: " << std::strerror(-res);
        continue;
      }
      // Seastar's complete_with: reaping only dispatches; the request owns its retry policy.
      auto* request = static_cast<IoRequest*>(io_uring_cqe_get_data(cqes[i]));
      --inflight_;
      stat_completed_.fetch_add(1, std::memory_order_relaxed);
      request->Complete(res);  // -errno, or bytes transferred. May Submit() (into staged_).
    }
    io_uring_cq_advance(&ring_, count);
  }
  stat_inflight_.store(inflight_, std::memory_order_relaxed);
}

}  // namespace blockstore
