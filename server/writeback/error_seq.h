#ifndef BLOCKSTORE_SERVER_WRITEBACK_ERROR_SEQ_H_
#define BLOCKSTORE_SERVER_WRITEBACK_ERROR_SEQ_H_

#include <atomic>
#include <cstdint>

namespace blockstore {

// The volume's latched writeback error, reported once to every caller that flushes (R21).
// A 32-bit value: the latest errno in the low 12 bits, a SEEN flag, and a counter above them
// that moves only when a new error is set after the previous one was seen. Each caller keeps
// its own cursor ("since"). Kernel analogue: errseq_t (lib/errseq.c, Jeff Layton, 4.13), which
// replaced the test-and-clear AS_EIO bit where the first checker swallowed the error for all.
//
// Thread-safe, lock-free.
class ErrorSeq {
 public:
  using Cursor = uint32_t;

  // errseq_set: records `err` (a positive errno).
  void Set(int err);
  // errseq_sample: the cursor for a new caller. 0 while the current error is unseen, so a new
  // caller is still told about an error nobody has seen.
  Cursor Sample() const;
  // errseq_check: the errno a caller at `since` has not seen yet, or 0.
  int Check(Cursor since) const;
  // errseq_check_and_advance: like Check, and moves `*since` past the error and marks it seen.
  int CheckAndAdvance(Cursor* since);

  uint32_t raw() const { return value_.load(std::memory_order_acquire); }

  static constexpr uint32_t kErrnoMask = (1u << 12) - 1;
  static constexpr uint32_t kSeen = 1u << 12;
  static constexpr uint32_t kCounterIncrement = 1u << 13;

 private:
  std::atomic<uint32_t> value_{0};
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_WRITEBACK_ERROR_SEQ_H_
