#ifndef BLOCKSTORE_SERVER_COMMON_CLOCK_H_
#define BLOCKSTORE_SERVER_COMMON_CLOCK_H_

#include <chrono>
#include <cstdint>

namespace blockstore {

// Monotonic nanoseconds, for latencies and dirty expiry (wall-clock steps must not expire or
// stall dirty pages).
inline int64_t MonotonicNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_COMMON_CLOCK_H_
