#include "server/cache/page_arena.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "glog/logging.h"

// Linux 5.14; older headers lack it (the call then fails with EINVAL and is skipped).
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace blockstore {
namespace {

// Maps `bytes` (a multiple of `align`, itself a power of two) at an `align`-aligned address:
// transparent huge pages need 2 MiB-aligned ranges. nullptr when the system refuses.
uint8_t* MapAligned(size_t bytes, size_t align) {
  const size_t span = bytes + align;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + align - 1) & ~(uintptr_t{align} - 1);
  if (aligned > start) munmap(raw, aligned - start);
  const uintptr_t tail = start + span - (aligned + bytes);
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + bytes), tail);
  return reinterpret_cast<uint8_t*>(aligned);
}

}  // namespace

PageArena::PageArena(uint32_t buffer_bytes)
    : buffer_bytes_(buffer_bytes),
      chunk_bytes_(buffer_bytes > kChunkBytes ? buffer_bytes : kChunkBytes) {
  CHECK_GE(buffer_bytes, 4096u);
  CHECK_EQ(buffer_bytes & (buffer_bytes - 1), 0u) << "page size must be a power of two";
}

PageArena::~PageArena() {
  for (uint8_t* chunk : chunks_) munmap(chunk, chunk_bytes_);
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
  if (carve_next_ == carve_end_) {
    uint8_t* chunk = MapAligned(chunk_bytes_, kChunkBytes);
    if (chunk == nullptr) return nullptr;
    // Huge pages where the system allows them (THP "madvise" or "always"): one fault, or none,
    // per 2 MiB instead of 512. Advice only: failure changes nothing but speed.
    madvise(chunk, chunk_bytes_, MADV_HUGEPAGE);
    // Populated now, in one call, rather than one page fault per 4 KiB on the write path. An
    // old kernel (EINVAL) leaves the pages to fault in on first touch; ENOMEM is a refusal.
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
