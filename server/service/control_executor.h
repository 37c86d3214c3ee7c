#ifndef BLOCKSTORE_SERVER_SERVICE_CONTROL_EXECUTOR_H_
#define BLOCKSTORE_SERVER_SERVICE_CONTROL_EXECUTOR_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace blockstore {

// One thread that runs the control-plane work that blocks on the file system (creating and
// deleting volumes: files, fsync, draining IO), so that RPC handlers never do. Tasks run in
// order; at most `queue_max` wait.
//
// Thread-safe.
class ControlExecutor {
 public:
  explicit ControlExecutor(size_t queue_max);
  // Runs the tasks already queued, then joins the thread.
  ~ControlExecutor();

  ControlExecutor(const ControlExecutor&) = delete;
  ControlExecutor& operator=(const ControlExecutor&) = delete;

  // Queues `task`; false (and `task` is dropped) when queue_max tasks already wait.
  bool Schedule(std::function<void()> task) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);

  const size_t queue_max_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // Last: starts after the fields it uses.
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_CONTROL_EXECUTOR_H_
