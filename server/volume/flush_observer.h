#ifndef BLOCKSTORE_SERVER_VOLUME_FLUSH_OBSERVER_H_
#define BLOCKSTORE_SERVER_VOLUME_FLUSH_OBSERVER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "server/writeback/page_result.h"

namespace blockstore {

struct FlushSummary {
  uint64_t pages_written = 0;  // pages whose writeback ended OK
  uint64_t pages_failed = 0;   // pages whose writeback ended with an error
  // The flush's result: the device flush's status, else the volume's latched error if this
  // caller has not seen it yet (ErrorSeq, R21), else OK.
  absl::Status status;
  uint32_t error_cursor = 0;  // the caller's new ErrorSeq cursor; pass it to the next Flush
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
