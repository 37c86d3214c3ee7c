#include "server/service/control_executor.h"

#include <utility>

namespace blockstore {

ControlExecutor::ControlExecutor(size_t queue_max)
    : queue_max_(queue_max), thread_([this] { Run(); }) {}

ControlExecutor::~ControlExecutor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

bool ControlExecutor::Schedule(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (queue_.size() >= queue_max_) return false;
  queue_.push_back(std::move(task));
  return true;
}

void ControlExecutor::Run() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](ControlExecutor* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->stopping_ || !self->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping, and nothing left to run
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

}  // namespace blockstore
