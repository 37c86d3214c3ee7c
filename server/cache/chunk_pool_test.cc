#include "server/cache/chunk_pool.h"

#include <cstring>
#include <set>

#include "gtest/gtest.h"
#include "server/cache/page_arena.h"

namespace blockstore {
namespace {

TEST(ChunkPoolTest, MapsWholeChunksWrittenAndHandsEachOutOnce) {
  ChunkPool pool(3 * PageArena::kChunkBytes + 4096, PageArena::kChunkBytes);
  EXPECT_EQ(pool.chunks_mapped(), 3u);  // whole chunks only
  EXPECT_EQ(pool.chunks_free(), 3u);
  std::set<uint8_t*> taken;
  for (int i = 0; i < 3; ++i) {
    uint8_t* chunk = pool.Take();
    ASSERT_NE(chunk, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(chunk) % 4096, 0u);
    EXPECT_EQ(chunk[0], 0);  // written (zeroed) at startup
    EXPECT_EQ(chunk[PageArena::kChunkBytes - 1], 0);
    EXPECT_TRUE(taken.insert(chunk).second);
  }
  EXPECT_EQ(pool.Take(), nullptr);
  for (uint8_t* chunk : taken) pool.Give(chunk);
  EXPECT_EQ(pool.chunks_free(), 3u);
}

TEST(ChunkPoolTest, LessThanAChunkStillMapsOne) {
  ChunkPool pool(4096, PageArena::kChunkBytes);
  EXPECT_EQ(pool.chunks_mapped(), 1u);
  ChunkPool none(0, PageArena::kChunkBytes);
  EXPECT_EQ(none.chunks_mapped(), 0u);
  EXPECT_EQ(none.Take(), nullptr);
}

TEST(ChunkPoolTest, ArenaCarvesPoolChunksFirstThenMapsItsOwnAndGivesPoolChunksBack) {
  ChunkPool pool(PageArena::kChunkBytes, PageArena::kChunkBytes);
  const size_t per_chunk = PageArena::kChunkBytes / 4096;
  {
    PageArena arena(4096, &pool);
    uint8_t* first = arena.Allocate();
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(pool.chunks_free(), 0u) << "the arena's first chunk came from the pool";
    for (size_t i = 1; i < per_chunk + 1; ++i) {
      uint8_t* buffer = arena.Allocate();
      ASSERT_NE(buffer, nullptr);
      std::memset(buffer, 1, 4096);
    }
    // The pool is empty: the second chunk is the arena's own mapping.
    EXPECT_EQ(arena.mapped_bytes(), PageArena::kChunkBytes);
  }
  EXPECT_EQ(pool.chunks_free(), 1u) << "the arena gives the pool's chunk back";
}

TEST(ChunkPoolTest, ArenaOfLargerBuffersThanAChunkDoesNotUseThePool) {
  ChunkPool pool(PageArena::kChunkBytes, PageArena::kChunkBytes);
  PageArena arena(2 * PageArena::kChunkBytes, &pool);
  ASSERT_NE(arena.Allocate(), nullptr);
  EXPECT_EQ(pool.chunks_free(), 1u);
}

}  // namespace
}  // namespace blockstore
