#ifndef BLOCKSTORE_SERVER_INTEGRATION_CRASH_MODEL_H_
#define BLOCKSTORE_SERVER_INTEGRATION_CRASH_MODEL_H_

// What the crash harness (crash_harness.h) knows about a volume's blocks, and the block content
// that lets a read say where it was written: each block written by the harness names its
// volume (an id the harness gives each volume it creates, so a recreated name is a different
// volume), page, block and generation, and the rest of the block is a function of those, so a
// torn, misplaced or invented block is told apart from every block the harness ever wrote.
//
// Durability as the .proto promises it: a write is durable once an OK Flush that started after
// the write's acknowledgement has ended, or once its own FUA write is answered OK. A process
// crash (SIGKILL) may lose any write that is not durable. After a restart each block must hold:
//   - a generation written at or after the last durable one (zeros only while nothing was made
//     durable there);
//   - never a generation older than what a previous restart read there (that came from the
//     volume's file, which a process crash does not undo);
//   - a generation that was written there: the one read at the last restart or one sent since
//     (acknowledged or not: a write in flight at the kill may or may not have landed).
// Blocks past the end of the volume (in a partial last page) read as zeros.
//
// Not thread-safe: the harness serializes calls.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace blockstore {
namespace crash {

// The bytes of one block at `generation` (>= 1); `block_size` >= kBlockHeaderBytes.
inline constexpr size_t kBlockHeaderBytes = 48;
std::string EncodeBlock(uint64_t seed, uint64_t volume_id, uint64_t page, uint32_t block,
                        uint64_t generation, uint32_t block_size);

struct DecodedBlock {
  enum class Kind { kZero, kValid, kGarbage };
  Kind kind = Kind::kGarbage;
  // kValid: what the block names.
  uint64_t volume_id = 0;
  uint64_t page = 0;
  uint32_t block = 0;
  uint64_t generation = 0;
  // kGarbage: why.
  std::string problem;
};
// kZero: all zero bytes. kValid: exactly EncodeBlock of the fields its header names (and this
// seed and size). kGarbage otherwise, with the reason.
DecodedBlock DecodeBlock(absl::string_view bytes, uint64_t seed);

struct Geometry {
  uint64_t size_bytes = 0;
  uint32_t page_size = 0;
  uint32_t block_size = 0;

  uint64_t page_count() const { return (size_bytes + page_size - 1) / page_size; }
  uint32_t blocks_per_page() const { return page_size / block_size; }
  // Blocks of `page` inside the volume (fewer than blocks_per_page in a partial last page).
  uint32_t blocks_in_page(uint64_t page) const;
};

// One write as the model sees it: the generation of each of its blocks.
struct WriteTicket {
  uint64_t page = 0;
  uint32_t first_block = 0;
  std::vector<uint64_t> generations;  // one per block, from first_block on
  bool fua = false;
};

// A finding of a check: `kind` is a short stable name (for counting), `detail` says everything.
struct Violation {
  std::string kind;
  std::string detail;
  uint64_t page = 0;
  uint32_t block = 0;
};

// What `bytes` hold, in words: "zeros", "generation 7", "volume id 2 page 5 block 1 generation
// 3" when they belong elsewhere, or the problem of a block the harness never wrote.
std::string DescribeBlock(absl::string_view bytes, uint64_t seed, uint64_t volume_id, uint64_t page,
                          uint32_t block);

// What checking the pages of a volume after a restart found.
struct CheckResult {
  uint64_t pages_checked = 0;
  uint64_t blocks_checked = 0;
  // Blocks that lost an acknowledged write (they read something older than the last
  // acknowledged generation): allowed after a process crash unless the write was durable, but
  // then no Flush with a cursor from before the crash may answer OK.
  uint64_t lost_blocks = 0;
  std::string lost_example;  // the first such block
  std::vector<Violation> violations;
};

class VolumeModel {
 public:
  VolumeModel(std::string name, uint64_t volume_id, Geometry geometry);

  const std::string& name() const { return name_; }
  uint64_t volume_id() const { return volume_id_; }
  const Geometry& geometry() const { return geometry_; }

  // A write of `block_count` blocks of `page` from `first_block` is about to be sent: gives each
  // block its next generation. The caller keeps at most one write per block in flight, so a
  // block's generations reach the server in the order they are given.
  WriteTicket BeginWrite(uint64_t page, uint32_t first_block, uint32_t block_count, bool fua);
  // The bytes to send for `ticket`.
  std::string Data(const WriteTicket& ticket, uint64_t seed) const;
  // The write was answered OK; `ack_seq` orders acknowledgements against Flush starts (the
  // harness's counter, bumped for each). An OK FUA write is durable at once.
  void Acknowledge(const WriteTicket& ticket, uint64_t ack_seq);
  // A Flush that started when the counter stood at `started_at` ended OK: every write
  // acknowledged at or before it is durable.
  void FlushSucceeded(uint64_t started_at);

  // Checks `data`, the whole page `page` as read after a restart (page_size bytes), against the
  // model, and makes what it read the block's state for the next cycle.
  void CheckPage(uint64_t page, absl::string_view data, uint64_t seed, CheckResult* result);

  // For the summary: the last durable generation of a block (tests).
  uint64_t durable(uint64_t page, uint32_t block) const;

 private:
  struct Sent {
    uint64_t generation;
    bool acknowledged;
    uint64_t ack_seq;
  };
  struct BlockState {
    uint64_t assigned = 0;   // the last generation given out
    uint64_t durable = 0;    // the last generation made durable (Flush or FUA)
    uint64_t base = 0;       // what the last restart read here (0: zeros)
    std::vector<Sent> sent;  // since the last restart, in generation order
  };

  BlockState& At(uint64_t page, uint32_t block);
  const BlockState& At(uint64_t page, uint32_t block) const;
  void CheckBlock(uint64_t page, uint32_t block, absl::string_view bytes, uint64_t seed,
                  CheckResult* result);
  void Report(CheckResult* result, const std::string& kind, uint64_t page, uint32_t block,
              const std::string& what) const;

  const std::string name_;
  const uint64_t volume_id_;
  const Geometry geometry_;
  std::vector<BlockState> blocks_;  // page * blocks_per_page + block
};

}  // namespace crash
}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_INTEGRATION_CRASH_MODEL_H_
