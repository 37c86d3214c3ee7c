#include "server/common/thread_start.h"

#include <atomic>
#include <cerrno>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace blockstore {
namespace {

std::atomic<int> failures_to_inject{0};

absl::Status CannotStart(absl::string_view what, absl::string_view why) {
  return absl::ResourceExhaustedError(
      absl::StrCat("cannot start ", what, ": ", why,
                   " (the process is out of threads or memory; a pids limit?)"));
}

}  // namespace

absl::StatusOr<std::thread> StartThread(absl::string_view what, std::function<void()> body) {
  int inject = failures_to_inject.load(std::memory_order_relaxed);
  while (inject > 0) {
    if (failures_to_inject.compare_exchange_weak(inject, inject - 1)) {
      return CannotStart(what, std::generic_category().message(EAGAIN));
    }
  }
  try {
    return std::thread(std::move(body));
  } catch (const std::system_error& error) {
    return CannotStart(what, error.what());
  }
}

void FailThreadStartsForTesting(int count) {
  failures_to_inject.store(count, std::memory_order_relaxed);
}

}  // namespace blockstore
