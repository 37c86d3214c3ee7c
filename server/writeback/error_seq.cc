#include "server/writeback/error_seq.h"

namespace blockstore {

void ErrorSeq::Set(int err) {
  if (err <= 0) return;
  uint32_t old = value_.load(std::memory_order_acquire);
  for (;;) {
    uint32_t next = (old & ~(kErrnoMask | kSeen)) | (static_cast<uint32_t>(err) & kErrnoMask);
    // Only an error somebody has seen needs a new counter value: until then the unseen one is
    // simply overwritten, and every cursor still differs from it.
    if ((old & kSeen) != 0) next += kCounterIncrement;
    if (next == old) return;
    if (value_.compare_exchange_weak(old, next, std::memory_order_acq_rel)) return;
  }
}

ErrorSeq::Cursor ErrorSeq::Sample() const {
  const uint32_t old = value_.load(std::memory_order_acquire);
  return (old & kSeen) != 0 ? old : 0;
}

int ErrorSeq::Check(Cursor since) const {
  const uint32_t cur = value_.load(std::memory_order_acquire) & ~kSeen;
  if (cur == (since & ~kSeen)) return 0;
  return static_cast<int>(cur & kErrnoMask);
}

int ErrorSeq::CheckAndAdvance(Cursor* since) {
  uint32_t old = value_.load(std::memory_order_acquire);
  if (old == *since) return 0;
  uint32_t next = old | kSeen;
  while ((old & kSeen) == 0) {
    if (value_.compare_exchange_weak(old, next, std::memory_order_acq_rel)) break;
    next = old | kSeen;
  }
  *since = next;
  return static_cast<int>(next & kErrnoMask);
}

}  // namespace blockstore
