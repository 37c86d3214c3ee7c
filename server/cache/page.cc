#include "server/cache/page.h"

#include <new>

#include "glog/logging.h"

namespace blockstore {
namespace {

uint8_t Log2(uint32_t v) {
  uint8_t shift = 0;
  while ((1u << shift) < v) ++shift;
  return shift;
}

}  // namespace

Page::Page(uint8_t* data, uint64_t index, uint32_t block_count, uint8_t block_shift)
    : data_(data),
      index_(index),
      block_count_(static_cast<uint16_t>(block_count)),
      block_shift_(block_shift) {}

size_t Page::HeaderBytes(uint32_t page_size_bytes, uint32_t block_size_bytes) {
  return (sizeof(Page) + page_size_bytes / block_size_bytes + 7) / 8 * 8;
}

Page* Page::Construct(void* slot, uint8_t* data, uint64_t index, uint32_t page_size_bytes,
                      uint32_t block_size_bytes) {
  CHECK_GE(page_size_bytes, block_size_bytes);
  CHECK_EQ(page_size_bytes % block_size_bytes, 0u);
  const uint32_t block_count = page_size_bytes / block_size_bytes;
  Page* page = new (slot) Page(data, index, block_count, Log2(block_size_bytes));
  for (uint32_t i = 0; i < block_count; ++i) {
    new (&page->blocks()[i]) std::atomic<uint8_t>(0);
  }
  return page;
}

bool Page::AllBlocksUptodate() const {
  for (uint32_t i = 0; i < block_count_; ++i) {
    if (!TestBlock(i, kBlockUptodate)) return false;
  }
  return true;
}

void Page::SetError(int err) {
  uint32_t old = flags_.load(std::memory_order_acquire);
  for (;;) {
    uint32_t desired = old | kPageError;
    if ((old & kPageError) == 0 || (old >> kPageErrnoShift) == 0) {
      desired = (desired & ((1u << kPageErrnoShift) - 1)) |
                (static_cast<uint32_t>(err) << kPageErrnoShift);
    }
    if (flags_.compare_exchange_weak(old, desired, std::memory_order_acq_rel)) return;
  }
}

void Page::ClearError() {
  const uint32_t errno_bits = ~((1u << kPageErrnoShift) - 1);
  flags_.fetch_and(~(kPageError | errno_bits), std::memory_order_acq_rel);
}

}  // namespace blockstore
