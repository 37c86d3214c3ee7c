#include "server/writeback/io_end.h"

#include "server/writeback/writeback.h"

namespace blockstore {

void IoEnd::Reset(WritebackObserver* observer, uint64_t logical_offset_bytes) {
  observer_ = observer;
  logical_offset_bytes_ = logical_offset_bytes;
  size_bytes_ = 0;
  error_.store(0, std::memory_order_relaxed);
  refs_.store(1, std::memory_order_release);
}

void IoEnd::Put() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) owner_->ReleaseIoEnd(this);
}

}  // namespace blockstore
