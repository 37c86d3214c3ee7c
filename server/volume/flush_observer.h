#ifndef BLOCKSTORE_SERVER_VOLUME_FLUSH_OBSERVER_H_
#define BLOCKSTORE_SERVER_VOLUME_FLUSH_OBSERVER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "server/writeback/page_result.h"

namespace blockstore {

// A client's error cursor, as the API hands it out: the volume's incarnation in the upper 32
// bits (which run of the volume issued it; a new one begins after every unclean stop) and the
// ErrorSeq cursor in the lower 32 (R21). A cursor from an earlier incarnation means writes it
// covers may have been lost in a crash: its next Flush says DATA_LOSS once.
using ErrorCursor = uint64_t;

inline ErrorCursor MakeErrorCursor(uint32_t incarnation, uint32_t error_seq_cursor) {
  return (static_cast<uint64_t>(incarnation) << 32) | error_seq_cursor;
}
inline uint32_t CursorIncarnation(ErrorCursor cursor) {
  return static_cast<uint32_t>(cursor >> 32);
}
inline uint32_t CursorErrorSeq(ErrorCursor cursor) { return static_cast<uint32_t>(cursor); }

struct FlushSummary {
  uint64_t pages_written = 0;  // pages whose writeback ended OK
  uint64_t pages_failed = 0;   // pages whose writeback ended with an error
  // The flush's result: the device flush's status, else DATA_LOSS if the caller's cursor is
  // from an incarnation before an unclean stop, else the volume's latched error if this caller
  // has not seen it yet (ErrorSeq, R21), else OK.
  absl::Status status;
  ErrorCursor error_cursor = 0;  // the caller's new cursor; pass it to the next Flush
};

// Receives a Flush's events. OnPageDone runs once per page, on whichever thread ends that
// page's writeback (a completion thread, or the volume's writeback thread); OnFlushDone runs
// once, last. The observer must stay alive until OnFlushDone returns, and must not block.
class FlushObserver {
 public:
  virtual ~FlushObserver() = default;
  virtual void OnPageDone(const PageResult& result) = 0;
  virtual void OnFlushDone(const FlushSummary& summary) = 0;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_VOLUME_FLUSH_OBSERVER_H_
