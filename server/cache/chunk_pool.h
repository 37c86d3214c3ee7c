#ifndef BLOCKSTORE_SERVER_CACHE_CHUNK_POOL_H_
#define BLOCKSTORE_SERVER_CACHE_CHUNK_POOL_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace blockstore {

// Page memory written once at startup, handed to the PageArenas of every volume as whole
// chunks (PageArena::kChunkBytes), so that the first write into a cached page does not pay for
// the first touch of its memory.
//
// Why: a process's first write to a page of fresh anonymous memory costs far more than later
// ones, even when the mapping was populated (MADV_POPULATE_WRITE) beforehand, on guests whose
// balloon hands freed memory back to the host (docs/benchmarks.md, "Measurements behind design
// choices"). Writing the memory here moves that cost to startup, as a database pre-touches its
// buffer pool, at the price of holding the whole --cache_bytes from the start (the budget allows
// it anyway) and a slower start.
//
// A chunk stays mapped while the pool or an arena holds it; an arena gives its pool chunks back
// when its cache goes away (a deleted volume), so the next volume reuses them. Memory an arena
// gives back to the system (PageArena::Release) loses its head start, but not its mapping.
//
// Thread-safe. Kernel analogue: memory reserved at boot for a subsystem (a CMA-like reserve).
class ChunkPool {
 public:
  // Maps and writes floor(bytes / chunk_bytes) chunks (at least one if bytes > 0). Stops early,
  // with a warning, if the system refuses memory: the pool is an optimization, never required.
  ChunkPool(uint64_t bytes, size_t chunk_bytes);
  // Unmaps the chunks it holds. REQUIRES: every chunk taken was given back.
  ~ChunkPool();

  ChunkPool(const ChunkPool&) = delete;
  ChunkPool& operator=(const ChunkPool&) = delete;

  // A written chunk, or nullptr when none is left.
  uint8_t* Take() ABSL_LOCKS_EXCLUDED(mu_);
  // Gives back a chunk from Take().
  void Give(uint8_t* chunk) ABSL_LOCKS_EXCLUDED(mu_);

  size_t chunk_bytes() const { return chunk_bytes_; }
  size_t chunks_mapped() const { return mapped_; }
  size_t chunks_free() const ABSL_LOCKS_EXCLUDED(mu_);
  absl::Duration prefault_time() const { return prefault_time_; }

 private:
  const size_t chunk_bytes_;
  size_t mapped_ = 0;
  absl::Duration prefault_time_;

  mutable absl::Mutex mu_;
  std::vector<uint8_t*> free_ ABSL_GUARDED_BY(mu_);
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_CACHE_CHUNK_POOL_H_
