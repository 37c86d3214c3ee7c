#include "server/service/reactor_lifetime.h"

#include <utility>

#include "glog/logging.h"
#include "server/common/annotated_mutex_lock.h"

namespace blockstore {

ReactorLifetime::ReactorLifetime(absl::AnyInvocable<void(const absl::Status&)> finish,
                                 absl::AnyInvocable<void()> destroy)
    : finish_(std::move(finish)), destroy_(std::move(destroy)) {}

void ReactorLifetime::Hold() {
  // Relaxed, as for any reference count: the caller's own hold keeps the count above 0.
  const int before = holds_.fetch_add(1, std::memory_order_relaxed);
  CHECK_GT(before, 0) << "a hold taken after the call finished";
}

void ReactorLifetime::Release() {
  // acq_rel: the last Release sees everything the other holders did before theirs (their
  // Break and RecordError included).
  const int before = holds_.fetch_sub(1, std::memory_order_acq_rel);
  CHECK_GT(before, 0) << "more Releases than holds";
  if (before > 1) return;  // another holder may finish and delete the reactor from here on
  absl::Status status;
  if (broken()) {
    status = absl::CancelledError("the stream was cancelled");
  } else {
    AnnotatedMutexLock lock(&mu_);
    status = error_;
  }
  // The finisher's reference keeps the reactor alive through Finish, even if gRPC runs
  // OnDone meanwhile (on another thread, or inline).
  finish_(status);
  Unref();
}

void ReactorLifetime::RecordError(const absl::Status& status) {
  if (status.ok()) return;
  AnnotatedMutexLock lock(&mu_);
  if (error_.ok()) error_ = status;
}

void ReactorLifetime::OnDone() { Unref(); }

void ReactorLifetime::Unref() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // `destroy` deletes this lifetime with its reactor: call it from the stack, not from a member
  // being destroyed.
  absl::AnyInvocable<void()> destroy = std::move(destroy_);
  destroy();
}

}  // namespace blockstore
