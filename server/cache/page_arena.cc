#include "server/cache/page_arena.h"

#include <sys/mman.h>

#include <cerrno>

#include "glog/logging.h"

// Linux 5.14; older headers lack it (the call then fails with EINVAL and is skipped).
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace blockstore {

PageArena::PageArena(uint32_t buffer_bytes, ChunkPool* pool)
    : buffer_bytes_(buffer_bytes),
      chunk_bytes_(buffer_bytes > kChunkBytes ? buffer_bytes : kChunkBytes),
      pool_(pool != nullptr && pool->chunk_bytes() == chunk_bytes_ ? pool : nullptr) {
  CHECK_GE(buffer_bytes, 4096u);
  CHECK_EQ(buffer_bytes & (buffer_bytes - 1), 0u) << "page size must be a power of two";
}

PageArena::~PageArena() {
  for (uint8_t* chunk : chunks_) munmap(chunk, chunk_bytes_);
  for (uint8_t* chunk : pool_chunks_) pool_->Give(chunk);
}

uint8_t* PageArena::TakeResident() {
  if (resident_free_.empty()) return nullptr;
  uint8_t* buffer = resident_free_.back();
  resident_free_.pop_back();
  return buffer;
}

uint8_t* PageArena::Allocate() {
  if (!released_free_.empty()) {
    uint8_t* buffer = released_free_.back();
    released_free_.pop_back();
    return buffer;
  }
  uint8_t* pooled = carve_next_ == carve_end_ && pool_ != nullptr ? pool_->Take() : nullptr;
  if (pooled != nullptr) {
    pool_chunks_.push_back(pooled);
    carve_next_ = pooled;
    carve_end_ = pooled + chunk_bytes_;
  } else if (carve_next_ == carve_end_) {
    void* mapped =
        mmap(nullptr, chunk_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED) return nullptr;
    uint8_t* chunk = static_cast<uint8_t*>(mapped);
    // No transparent huge pages, even where THP is "always": under a balloon driver with free
    // page reporting (virtio_balloon, as on the benchmark machine) the guest hands free 2 MiB
    // blocks back to the host, so a huge page is nearly always memory the host must back again
    // on first touch. Measured there, populating 256 MiB: 0.8 us per 4 KiB with 4 KiB pages
    // every time, 0.3-12.5 us with huge pages (26 % of blockstored's CPU in clear_page_erms on
    // the sequential service row). Advice only: failure changes nothing but speed.
    madvise(chunk, chunk_bytes_, MADV_NOHUGEPAGE);
    // Populated now, in one call, rather than one page fault per 4 KiB on the write path (a
    // fault costs 10-20 us on that guest). An old kernel (EINVAL) leaves the pages to fault in
    // on first touch; ENOMEM is a refusal.
    if (madvise(chunk, chunk_bytes_, MADV_POPULATE_WRITE) != 0 && errno == ENOMEM) {
      munmap(chunk, chunk_bytes_);
      return nullptr;
    }
    chunks_.push_back(chunk);
    carve_next_ = chunk;
    carve_end_ = chunk + chunk_bytes_;
  }
  uint8_t* buffer = carve_next_;
  carve_next_ += buffer_bytes_;
  return buffer;
}

void PageArena::Free(uint8_t* buffer) { resident_free_.push_back(buffer); }

size_t PageArena::Release(size_t max) {
  size_t released = 0;
  while (released < max && !resident_free_.empty()) {
    uint8_t* buffer = resident_free_.back();
    resident_free_.pop_back();
    // The mapping stays; its pages go back to the system and read as zeros when touched again.
    // It cannot fail on a private anonymous range we mapped.
    PCHECK(madvise(buffer, buffer_bytes_, MADV_DONTNEED) == 0) << "madvise(MADV_DONTNEED)";
    released_free_.push_back(buffer);
    ++released;
  }
  return released;
}

}  // namespace blockstore
