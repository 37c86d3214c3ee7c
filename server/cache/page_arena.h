#ifndef BLOCKSTORE_SERVER_CACHE_PAGE_ARENA_H_
#define BLOCKSTORE_SERVER_CACHE_PAGE_ARENA_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "server/cache/chunk_pool.h"

namespace blockstore {

// The data buffers of one PageCache's pages: buffers of exactly one page size, carved from
// anonymous mappings of kChunkBytes (2 MiB) that are populated when they are mapped (4 KiB
// pages, see page_arena.cc for why not huge pages), and reused after their page is freed.
//
// Why not aligned_alloc per page: glibc's memalign path fragments the heap (each 4 KiB-aligned
// 4 KiB block leaves a fragment that later mallocs walk and split), and each new page faults on
// first touch; a buffer carved from a populated chunk costs a small fraction of that
// (docs/benchmarks.md, "Measurements behind design choices").
//
// A freed buffer stays resident (its memory is still in use by the process) until Release()
// gives it back to the system with MADV_DONTNEED; the PageCache keeps such buffers charged to
// its MemoryBudget, so the budget still bounds what the process holds, give or take the part of
// the newest chunk not carved yet (under 2 MiB per cache: a chunk is populated whole).
//
// Not thread-safe: PageCache::mu_ guards it. Kernel analogue: the page allocator's free lists
// for one order.
class PageArena {
 public:
  static constexpr size_t kChunkBytes = size_t{2} << 20;

  // `buffer_bytes`: a power of two, at least 4096 (O_DIRECT alignment). `pool` (may be null;
  // must outlive the arena): new chunks come from it, already written, while it has any of
  // kChunkBytes.
  explicit PageArena(uint32_t buffer_bytes, ChunkPool* pool = nullptr);
  // Gives the pool's chunks back and unmaps the others. REQUIRES: no buffer in use any more.
  ~PageArena();

  PageArena(const PageArena&) = delete;
  PageArena& operator=(const PageArena&) = delete;

  // A freed buffer whose memory is still resident, or nullptr if there is none.
  uint8_t* TakeResident();
  // A buffer that was given back to the system, or a new one (a chunk from the pool, or a new
  // mapping populated now, when every chunk is carved); nullptr when the system refuses
  // memory. Its contents are undefined (zero, or an old page's data).
  uint8_t* Allocate();
  // Returns a buffer from TakeResident or Allocate; it stays resident.
  void Free(uint8_t* buffer);
  // Gives the memory of up to `max` resident free buffers back to the system. Returns how many.
  size_t Release(size_t max);

  size_t resident_free() const { return resident_free_.size(); }
  // The arena's own mappings (chunks from the pool not counted).
  uint64_t mapped_bytes() const { return chunks_.size() * chunk_bytes_; }

 private:
  const uint32_t buffer_bytes_;
  const size_t chunk_bytes_;           // kChunkBytes, or one buffer if a buffer is larger
  ChunkPool* const pool_;              // null, or a pool of chunk_bytes_ chunks
  std::vector<uint8_t*> chunks_;       // every mapping of our own, unmapped by the destructor
  std::vector<uint8_t*> pool_chunks_;  // chunks taken from pool_, given back by the destructor
  uint8_t* carve_next_ = nullptr;      // the newest chunk's first buffer not handed out yet
  uint8_t* carve_end_ = nullptr;
  std::vector<uint8_t*> resident_free_;
  std::vector<uint8_t*> released_free_;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_CACHE_PAGE_ARENA_H_
