#include "server/service/write_slots.h"

#include <utility>

#include "server/cache/page.h"

namespace blockstore {

WriteSlots::WriteSlots(size_t count) : slots_(count) {
  free_.reserve(count);
  for (int i = static_cast<int>(count) - 1; i >= 0; --i) free_.push_back(i);
}

int WriteSlots::Take() {
  const int index = free_.back();
  free_.pop_back();
  return index;
}

void WriteSlots::Filled(int index) {
  Slot& slot = slots_[index];
  if (!slot.holds_buffer && slot.request.data().capacity() > 0) {
    slot.holds_buffer = true;
    ++retained_;
  }
}

void WriteSlots::Give(int index, std::vector<std::string>* released) {
  free_.push_back(index);
  // A request larger than any write can be (refused: data past the page, a name past 128
  // bytes) leaves no allocation in the slot, or 256 slots could keep 256 MiB of 1 MiB messages.
  Slot& given = slots_[index];
  if (given.request.data().capacity() > kMaxPageSizeBytes) {
    released->emplace_back();
    released->back().swap(*given.request.mutable_data());
    if (given.holds_buffer) {
      given.holds_buffer = false;
      --retained_;
    }
  }
  if (given.request.volume().capacity() > kMaxRetainedNameBytes) {
    released->emplace_back();
    released->back().swap(*given.request.mutable_volume());
  }
  const size_t busy = slots_.size() - free_.size();
  if (busy > 1 || retained_ <= kKeptWhenIdle) return;
  // Idle: the least recently used free slots (the bottom of the stack) give their buffers back.
  for (size_t i = 0; i < free_.size() && retained_ > kKeptWhenIdle; ++i) {
    Slot& slot = slots_[free_[i]];
    if (!slot.holds_buffer) continue;
    released->emplace_back();
    released->back().swap(*slot.request.mutable_data());
    slot.holds_buffer = false;
    --retained_;
  }
}

}  // namespace blockstore
