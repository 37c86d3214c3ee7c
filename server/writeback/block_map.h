#ifndef BLOCKSTORE_SERVER_WRITEBACK_BLOCK_MAP_H_
#define BLOCKSTORE_SERVER_WRITEBACK_BLOCK_MAP_H_

#include <cstdint>
#include <vector>

namespace blockstore {

// Where a logical block of a volume lives on the device.
struct BlockMapping {
  enum class Kind : uint8_t {
    kMapped,     // written at `device_block`
    kHole,       // no device block: writing it is skipped and its dirty bit cleared (R4)
    kDelayed,    // not allocated yet: skipped, stays dirty (R4)
    kUnwritten,  // preallocated, converted after IO (R25, thin volumes): skipped, stays dirty
  };
  Kind kind = Kind::kMapped;
  uint64_t device_block = 0;
  bool is_new = false;  // newly allocated: drop stale aliases before writing (R5)
};

// Logical block -> device block. File-backed volumes use LinearBlockMap (block n at offset
// n * block_size); the seam lets a later allocator place blocks elsewhere, and lets tests
// scatter blocks so one page spans several bios. Kernel analogue: get_block / ext4_map_blocks.
//
// Implementations must be thread-safe for concurrent Map() calls.
class BlockMap {
 public:
  virtual ~BlockMap() = default;
  virtual BlockMapping Map(uint64_t logical_block) const = 0;
  // R5: called with the device block of a kNew mapping before it is written, so a cached alias
  // of that device block can be dropped. File-backed volumes keep no such alias.
  virtual void InvalidateAlias(uint64_t device_block) {}
};

class LinearBlockMap final : public BlockMap {
 public:
  BlockMapping Map(uint64_t logical_block) const override {
    return BlockMapping{BlockMapping::Kind::kMapped, logical_block, false};
  }
};

// Test map: each logical block gets an explicit mapping (defaults to linear). Map() is safe
// from any thread once the table is set up; Set() and InvalidateAlias() (which records R5's
// invalidations) are not, so tests that use them drive writeback from one thread.
class TableBlockMap final : public BlockMap {
 public:
  explicit TableBlockMap(uint64_t block_count) : table_(block_count) {
    for (uint64_t i = 0; i < block_count; ++i) table_[i].device_block = i;
  }
  void Set(uint64_t logical_block, BlockMapping mapping) { table_[logical_block] = mapping; }
  BlockMapping Map(uint64_t logical_block) const override { return table_[logical_block]; }
  void InvalidateAlias(uint64_t device_block) override { invalidated_.push_back(device_block); }
  const std::vector<uint64_t>& invalidated() const { return invalidated_; }

 private:
  std::vector<BlockMapping> table_;
  std::vector<uint64_t> invalidated_;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_WRITEBACK_BLOCK_MAP_H_
