#include "server/cache/page_arena.h"

#include <cstring>
#include <set>

#include "gtest/gtest.h"

namespace blockstore {
namespace {

TEST(PageArenaTest, BuffersAreAlignedDistinctAndCarvedFromChunks) {
  PageArena arena(4096);
  std::set<uint8_t*> seen;
  const size_t per_chunk = PageArena::kChunkBytes / 4096;
  for (size_t i = 0; i < per_chunk + 1; ++i) {
    uint8_t* buffer = arena.Allocate();
    ASSERT_NE(buffer, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer) % 4096, 0u);  // O_DIRECT
    std::memset(buffer, static_cast<int>(i), 4096);             // writable, populated or not
    EXPECT_TRUE(seen.insert(buffer).second);
  }
  // The 513th buffer needed a second chunk.
  EXPECT_EQ(arena.mapped_bytes(), 2 * PageArena::kChunkBytes);
}

TEST(PageArenaTest, FreedBuffersAreReusedBeforeNewMemory) {
  PageArena arena(65536);
  uint8_t* a = arena.Allocate();
  uint8_t* b = arena.Allocate();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(arena.TakeResident(), nullptr);
  arena.Free(a);
  EXPECT_EQ(arena.resident_free(), 1u);
  EXPECT_EQ(arena.TakeResident(), a);
  EXPECT_EQ(arena.resident_free(), 0u);
  arena.Free(a);
  arena.Free(b);
  const uint64_t mapped = arena.mapped_bytes();
  EXPECT_EQ(arena.Release(1), 1u);  // one given back to the system
  EXPECT_EQ(arena.resident_free(), 1u);
  EXPECT_NE(arena.TakeResident(), nullptr);
  EXPECT_EQ(arena.TakeResident(), nullptr);
  EXPECT_NE(arena.Allocate(), nullptr);  // the released one, not new memory
  EXPECT_EQ(arena.mapped_bytes(), mapped);
}

TEST(PageArenaTest, ReleasedBufferReadsAsZerosWhenTakenAgain) {
  PageArena arena(4096);
  uint8_t* buffer = arena.Allocate();
  ASSERT_NE(buffer, nullptr);
  std::memset(buffer, 0xab, 4096);
  arena.Free(buffer);
  ASSERT_EQ(arena.Release(8), 1u);
  uint8_t* again = arena.Allocate();
  ASSERT_EQ(again, buffer);
  for (int i = 0; i < 4096; ++i) ASSERT_EQ(again[i], 0) << i;
}

TEST(PageArenaTest, PagesLargerThanAChunkGetAChunkEach) {
  PageArena arena(4u << 20);
  uint8_t* a = arena.Allocate();
  uint8_t* b = arena.Allocate();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(arena.mapped_bytes(), uint64_t{8} << 20);
  std::memset(a, 1, 4u << 20);
  std::memset(b, 2, 4u << 20);
}

}  // namespace
}  // namespace blockstore
