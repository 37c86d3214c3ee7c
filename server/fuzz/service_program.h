#ifndef BLOCKSTORE_SERVER_FUZZ_SERVICE_PROGRAM_H_
#define BLOCKSTORE_SERVER_FUZZ_SERVICE_PROGRAM_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "blockstore/v1/blockstore.pb.h"
#include "server/fuzz/fuzz_input.h"
#include "server/fuzz/volume_model.h"

namespace blockstore {

// How the service fuzzer reads its input: a sequence of calls, each a byte choosing the RPC
// (OpKind) and then, field by field, bytes choosing each value from a short list of the values
// that matter (the enums below, a byte each, taken modulo their kCount) or, for the last entry
// of most lists, raw bytes. Values that depend on a volume's geometry (its last page, the page
// size past an offset) are computed against the volume the request names, as the VolumeModel
// knows it, so a mutation that changes a name keeps the request aimed at the edges of the new
// volume. The enums' order is the format: append, never reorder (the corpus depends on it).
//
// Per input: at most kMaxOps calls and kDataBudgetBytes of write data (beyond it, writes carry
// no data), so that every input is quick and a run does thousands.

inline constexpr size_t kMaxOps = 16;
inline constexpr size_t kDataBudgetBytes = 1 << 20;
// No write carries more: past VolumeInfo.max_message_bytes (68 KiB), with room to cross it.
inline constexpr size_t kMaxDataBytes = 80 * 1024;
inline constexpr size_t kMaxStreamWrites = 24;
inline constexpr size_t kMaxBatches = 6;
inline constexpr size_t kMaxBatchWrites = 20;

enum class OpKind : uint8_t {
  kCreateVolume,
  kDeleteVolume,
  kListVolumes,
  kGetVolumeInfo,
  kWritePage,
  kWritePages,
  kWritePageBatches,
  kReadPage,
  kReadPages,
  kFlush,
  kCount
};

enum class NameChoice : uint8_t {
  kA,  // the fixed volumes (fixed_volumes.h)
  kB,
  kC,
  kWitness,
  kScratch0,  // names inputs create and delete
  kScratch1,
  kScratch2,
  kScratch3,
  kMissing,      // valid, never created
  kEmpty,        // ""
  kDot,          // "."
  kDotDot,       // ".."
  kSlash,        // "a/b"
  kNul,          // "a\0b"
  kLeadingDash,  // "-a"
  kSpace,        // "a b"
  kNonAscii,     // UTF-8
  kLongest,      // 128 bytes, valid
  kTooLong,      // 129 bytes
  kPunctuation,  // "a.b_c-9", valid
  kRaw,          // a length byte (mod 141), then that many bytes
  kCount
};

enum class PageChoice : uint8_t {
  kZero,
  kOne,
  kLast,     // page_count - 1
  kEnd,      // page_count
  kPastEnd,  // page_count + 1
  kMax,      // 2^64 - 1
  kTopBit,   // 2^63
  kWraps,    // the first page whose first byte would be past 2^64: page * page_size wraps
  kSmall,    // a byte
  kRaw,      // 8 bytes
  kCount
};

enum class OffsetChoice : uint8_t {
  kZero,
  kBlock,
  kLastBlock,  // page size - block size
  kPageSize,
  kPastPage,  // page size + block size
  kOne,
  kHalfBlock,
  kBlocks,  // a byte, times the block size
  kMax,     // 2^32 - 1
  kRaw,     // 4 bytes
  kCount
};

enum class LengthChoice : uint8_t {
  kZero,
  kBlock,
  kPage,
  kToPageEnd,    // page size - offset
  kPastPageEnd,  // page size - offset + block size
  kOne,
  kBlockPlusOne,
  kBlocks,        // (a byte mod 16 + 1) blocks
  kMessageLimit,  // the request's encoding within 4 bytes of max_message_bytes (a byte says
                  // where: mod 9, -4..+4)
  kRaw,           // 2 bytes
  kCount
};

// What makes a write to the witness invalid when its fields would make it valid (the witness
// must not change). A flags byte's bits 1-2.
enum class SpoilChoice : uint8_t { kOddOffset, kNoData, kPastEnd, kOddLength, kCount };

enum class PageSizeChoice : uint8_t {
  kDefault,  // 0
  k4K,
  k8K,
  k16K,
  k32K,
  k64K,
  k2K,
  k128K,
  kOdd,  // 4097
  kRaw,  // 4 bytes
  kCount
};

enum class BlockSizeChoice : uint8_t {
  kDefault,  // 0
  k512,
  k1K,
  k4K,
  kPage,
  kDoublePage,
  k256,
  kOdd,  // 513
  kRaw,  // 4 bytes
  kCount
};

enum class SizeChoice : uint8_t {
  kZero,
  kOneBlock,
  kPages,             // (a byte mod 16 + 1) pages
  kPartialPage,       // (a byte mod 16) pages and a block
  kNotBlockMultiple,  // (a byte mod 16 + 1) blocks and a byte
  kTiB,               // 2^40 (volumes are thin: nothing is reserved)
  k16TiB,             // 2^44, past ext4's largest file
  kTopBit,            // 2^63, past off_t
  kLargest,           // the largest multiple of the block size below 2^64
  kRaw,               // 8 bytes
  kCount
};

enum class ReadCountChoice : uint8_t {
  kZero,
  kOne,
  kTwo,
  kRest,         // page_count - first
  kRestPlusOne,  // one past the end
  kMax,          // 2^64 - 1 (first + count wraps)
  kSmall,        // a byte
  kRaw,          // 8 bytes
  kCount
};

enum class CursorChoice : uint8_t {
  kAbsent,
  kZero,
  kFromInfo,     // GetVolumeInfo's error_cursor, fetched just before
  kLastSummary,  // the cursor of the last Flush of this volume (absent if none)
  kMax,
  kRaw,  // 8 bytes
  kCount
};

// One call, decoded. Only the fields of its kind are set.
struct Op {
  OpKind kind = OpKind::kListVolumes;
  v1::CreateVolumeRequest create;
  std::string volume;                        // DeleteVolume, GetVolumeInfo
  v1::WritePageRequest write;                // WritePage
  std::vector<v1::WritePageRequest> writes;  // WritePages
  std::vector<v1::WritePageBatchRequest> batches;
  // Streams: messages sent before the client cancels the call; -1: never.
  int cancel_after = -1;
  v1::ReadPageRequest read;
  v1::ReadPagesRequest read_range;
  v1::FlushRequest flush;  // error_cursor is set by the driver for the cursor choices
  CursorChoice cursor = CursorChoice::kAbsent;
};

// Decodes one input into calls, one at a time: Next() looks at `model` for the geometry of the
// volume a request names, so it must see the model as the previous call left it.
class ServiceProgram {
 public:
  ServiceProgram(FuzzInput* input, const VolumeModel* model) : input_(input), model_(model) {}

  // False when the input or kMaxOps is used up.
  bool Next(Op* op);

 private:
  std::string Name();
  Geometry GeometryOf(const std::string& name) const;
  uint64_t Page(const Geometry& g);
  v1::WritePageRequest Write(uint64_t request_id);
  int CancelAfter(size_t messages);

  FuzzInput* const input_;
  const VolumeModel* const model_;
  size_t ops_ = 0;
  size_t data_bytes_ = 0;
};

// The bytes of the `serial`th write of an input: no block of one write equals a block of
// another, nor zeros.
std::string WriteData(size_t length, uint64_t serial);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_FUZZ_SERVICE_PROGRAM_H_
