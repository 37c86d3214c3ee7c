#include "server/fuzz/service_program.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>

#include "server/fuzz/fixed_volumes.h"

namespace blockstore {
namespace {

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();
// The largest request message the harness's server takes (VolumeInfo.max_message_bytes): the
// least any server declares, the largest page and 4 KiB. Written again here from the .proto's
// words; the driver checks it against what GetVolumeInfo says.
constexpr size_t kProtoMaxMessageBytes = 65536 + 4096;

// Across the process, so that no two writes of a run carry the same bytes.
std::atomic<uint64_t> next_write_serial{1};

const char* const kScratchNames[] = {"n0", "n1", "n2", "n3"};

template <typename Enum>
Enum Pick(FuzzInput* input) {
  return static_cast<Enum>(input->Choose(static_cast<size_t>(Enum::kCount)));
}

// Data of `length` bytes such that `request` with it encodes to `target` bytes, if any does.
size_t LengthForEncodedSize(v1::WritePageRequest request, size_t target) {
  request.clear_data();
  const size_t base = request.ByteSizeLong();
  // data adds 1 (tag) + its length's varint (3 bytes for 16 KiB .. 2 MiB) + length.
  for (size_t varint = 1; varint <= 3; ++varint) {
    if (target < base + 1 + varint) break;
    const size_t length = target - base - 1 - varint;
    request.set_data(std::string(length, 'x'));
    if (request.ByteSizeLong() == target) return length;
  }
  return target > base + 4 ? target - base - 4 : 0;
}

}  // namespace

std::string WriteData(size_t length, uint64_t serial) {
  std::string data(length, '\0');
  for (size_t i = 0; i < length; ++i) {
    data[i] = static_cast<char>((serial * 131 + i * 7 + (i >> 9) * 29 + 1) & 0xff);
  }
  // Every 512 bytes (the smallest block) start with the write's serial and their offset in it.
  for (size_t at = 0; at + 16 <= length; at += 512) {
    const uint64_t offset = at;
    std::memcpy(&data[at], &serial, sizeof(serial));
    std::memcpy(&data[at + 8], &offset, sizeof(offset));
  }
  return data;
}

std::string ServiceProgram::Name() {
  switch (Pick<NameChoice>(input_)) {
    case NameChoice::kA:
      return kFixedVolumes[0].name;
    case NameChoice::kB:
      return kFixedVolumes[1].name;
    case NameChoice::kC:
      return kFixedVolumes[2].name;
    case NameChoice::kWitness:
      return kWitnessVolume;
    case NameChoice::kScratch0:
      return kScratchNames[0];
    case NameChoice::kScratch1:
      return kScratchNames[1];
    case NameChoice::kScratch2:
      return kScratchNames[2];
    case NameChoice::kScratch3:
      return kScratchNames[3];
    case NameChoice::kMissing:
      return "zz";
    case NameChoice::kEmpty:
      return "";
    case NameChoice::kDot:
      return ".";
    case NameChoice::kDotDot:
      return "..";
    case NameChoice::kSlash:
      return "a/b";
    case NameChoice::kNul:
      return std::string("a\0b", 3);
    case NameChoice::kLeadingDash:
      return "-a";
    case NameChoice::kSpace:
      return "a b";
    case NameChoice::kNonAscii:
      return "\xc3\xa9t\xc3\xa9";
    case NameChoice::kLongest:
      return std::string(128, 'x');
    case NameChoice::kTooLong:
      return std::string(129, 'x');
    case NameChoice::kPunctuation:
      return "a.b_c-9";
    case NameChoice::kRaw:
    case NameChoice::kCount:
      break;
  }
  return input_->Bytes(input_->Byte() % 141);
}

Geometry ServiceProgram::GeometryOf(const std::string& name) const {
  const Geometry* geometry = model_->Find(name);
  // A name that is no volume: aim at the edges of the smallest default volume.
  return geometry != nullptr ? *geometry : Geometry{16 * 4096, 4096, 4096};
}

uint64_t ServiceProgram::Page(const Geometry& g) {
  const uint64_t pages = g.page_count();
  switch (Pick<PageChoice>(input_)) {
    case PageChoice::kZero:
      return 0;
    case PageChoice::kOne:
      return 1;
    case PageChoice::kLast:
      return pages == 0 ? 0 : pages - 1;
    case PageChoice::kEnd:
      return pages;
    case PageChoice::kPastEnd:
      return pages + 1;
    case PageChoice::kMax:
      return kMaxU64;
    case PageChoice::kTopBit:
      return uint64_t{1} << 63;
    case PageChoice::kWraps:
      return kMaxU64 / g.page_size_bytes + 1;
    case PageChoice::kSmall:
      return input_->Byte();
    case PageChoice::kRaw:
    case PageChoice::kCount:
      break;
  }
  return input_->U64();
}

v1::WritePageRequest ServiceProgram::Write(uint64_t request_id) {
  v1::WritePageRequest request;
  request.set_volume(Name());
  request.set_request_id(request_id);
  const Geometry g = GeometryOf(request.volume());
  const uint32_t page = g.page_size_bytes;
  const uint32_t block = g.block_size_bytes;
  request.set_page_index(Page(g));
  uint32_t offset = 0;
  switch (Pick<OffsetChoice>(input_)) {
    case OffsetChoice::kZero:
      offset = 0;
      break;
    case OffsetChoice::kBlock:
      offset = block;
      break;
    case OffsetChoice::kLastBlock:
      offset = page - block;
      break;
    case OffsetChoice::kPageSize:
      offset = page;
      break;
    case OffsetChoice::kPastPage:
      offset = page + block;
      break;
    case OffsetChoice::kOne:
      offset = 1;
      break;
    case OffsetChoice::kHalfBlock:
      offset = block / 2;
      break;
    case OffsetChoice::kBlocks:
      offset = static_cast<uint32_t>(input_->Byte()) * block;
      break;
    case OffsetChoice::kMax:
      offset = std::numeric_limits<uint32_t>::max();
      break;
    case OffsetChoice::kRaw:
    case OffsetChoice::kCount:
      offset = input_->U32();
      break;
  }
  request.set_offset_bytes(offset);
  size_t length = 0;
  switch (Pick<LengthChoice>(input_)) {
    case LengthChoice::kZero:
      length = 0;
      break;
    case LengthChoice::kBlock:
      length = block;
      break;
    case LengthChoice::kPage:
      length = page;
      break;
    case LengthChoice::kToPageEnd:
      length = offset < page ? page - offset : block;
      break;
    case LengthChoice::kPastPageEnd:
      length = (offset < page ? page - offset : 0) + block;
      break;
    case LengthChoice::kOne:
      length = 1;
      break;
    case LengthChoice::kBlockPlusOne:
      length = block + 1;
      break;
    case LengthChoice::kBlocks:
      length = (input_->Byte() % 16 + 1) * size_t{block};
      break;
    case LengthChoice::kMessageLimit: {
      const int delta = input_->Byte() % 9 - 4;
      length = LengthForEncodedSize(request, kProtoMaxMessageBytes + delta);
      break;
    }
    case LengthChoice::kRaw:
    case LengthChoice::kCount:
      length = input_->U16();
      break;
  }
  const uint8_t flags = input_->Byte();
  request.set_fua((flags & 1) != 0);
  length = std::min(length, kMaxDataBytes);
  if (data_bytes_ + length > kDataBudgetBytes) length = 0;
  data_bytes_ += length;
  request.set_data(WriteData(length, next_write_serial.fetch_add(1)));

  if (request.volume() == kWitnessVolume &&
      model_->ExpectWrite(request).Contains(grpc::StatusCode::OK)) {
    // The witness never takes a write: spoil this one, in one of the ways a client gets wrong.
    switch (static_cast<SpoilChoice>((flags >> 1) % static_cast<int>(SpoilChoice::kCount))) {
      case SpoilChoice::kOddOffset:
        request.set_offset_bytes(request.offset_bytes() | 1);
        break;
      case SpoilChoice::kNoData:
        request.clear_data();
        break;
      case SpoilChoice::kPastEnd:
        request.set_page_index(g.page_count());
        break;
      case SpoilChoice::kOddLength:
      case SpoilChoice::kCount:
        request.mutable_data()->push_back('x');
        break;
    }
  }
  return request;
}

int ServiceProgram::CancelAfter(size_t messages) {
  const uint8_t b = input_->Byte();
  if (b % 4 != 3) return -1;
  return static_cast<int>((b / 4) % (messages + 1));
}

bool ServiceProgram::Next(Op* op) {
  if (ops_ >= kMaxOps || input_->empty()) return false;
  ++ops_;
  *op = Op();
  op->kind = Pick<OpKind>(input_);
  switch (op->kind) {
    case OpKind::kCreateVolume: {
      v1::CreateVolumeRequest& create = op->create;
      create.set_name(Name());
      uint32_t page = 0;
      switch (Pick<PageSizeChoice>(input_)) {
        case PageSizeChoice::kDefault:
          page = 0;
          break;
        case PageSizeChoice::k4K:
          page = 4096;
          break;
        case PageSizeChoice::k8K:
          page = 8192;
          break;
        case PageSizeChoice::k16K:
          page = 16384;
          break;
        case PageSizeChoice::k32K:
          page = 32768;
          break;
        case PageSizeChoice::k64K:
          page = 65536;
          break;
        case PageSizeChoice::k2K:
          page = 2048;
          break;
        case PageSizeChoice::k128K:
          page = 131072;
          break;
        case PageSizeChoice::kOdd:
          page = 4097;
          break;
        case PageSizeChoice::kRaw:
        case PageSizeChoice::kCount:
          page = input_->U32();
          break;
      }
      const uint32_t effective_page = page == 0 ? 4096 : page;
      uint32_t block = 0;
      switch (Pick<BlockSizeChoice>(input_)) {
        case BlockSizeChoice::kDefault:
          block = 0;
          break;
        case BlockSizeChoice::k512:
          block = 512;
          break;
        case BlockSizeChoice::k1K:
          block = 1024;
          break;
        case BlockSizeChoice::k4K:
          block = 4096;
          break;
        case BlockSizeChoice::kPage:
          block = effective_page;
          break;
        case BlockSizeChoice::kDoublePage:
          block = effective_page * 2;
          break;
        case BlockSizeChoice::k256:
          block = 256;
          break;
        case BlockSizeChoice::kOdd:
          block = 513;
          break;
        case BlockSizeChoice::kRaw:
        case BlockSizeChoice::kCount:
          block = input_->U32();
          break;
      }
      const uint64_t effective_block = block == 0 ? 4096 : block;
      uint64_t size = 0;
      switch (Pick<SizeChoice>(input_)) {
        case SizeChoice::kZero:
          size = 0;
          break;
        case SizeChoice::kOneBlock:
          size = effective_block;
          break;
        case SizeChoice::kPages:
          size = (input_->Byte() % 16 + 1) * uint64_t{effective_page};
          break;
        case SizeChoice::kPartialPage:
          size = (input_->Byte() % 16) * uint64_t{effective_page} + effective_block;
          break;
        case SizeChoice::kNotBlockMultiple:
          size = (input_->Byte() % 16 + 1) * effective_block + 1;
          break;
        case SizeChoice::kTiB:
          size = uint64_t{1} << 40;
          break;
        case SizeChoice::k16TiB:
          size = uint64_t{1} << 44;
          break;
        case SizeChoice::kTopBit:
          size = uint64_t{1} << 63;
          break;
        case SizeChoice::kLargest:
          size = effective_block == 0 ? kMaxU64 : kMaxU64 - kMaxU64 % effective_block;
          break;
        case SizeChoice::kRaw:
        case SizeChoice::kCount:
          size = input_->U64();
          break;
      }
      create.set_page_size_bytes(page);
      create.set_block_size_bytes(block);
      create.set_size_bytes(size);
      break;
    }
    case OpKind::kDeleteVolume:
      op->volume = Name();
      // The fixed volumes stay for the whole run; a delete aimed at one goes to a scratch name.
      if (IsFixedVolume(op->volume)) op->volume = kScratchNames[op->volume[0] % 4];
      break;
    case OpKind::kListVolumes:
      break;
    case OpKind::kGetVolumeInfo:
      op->volume = Name();
      break;
    case OpKind::kWritePage:
      op->write = Write(0);
      op->write.set_request_id(input_->U64());
      break;
    case OpKind::kWritePages: {
      const size_t count = input_->Byte() % (kMaxStreamWrites + 1);
      for (size_t i = 0; i < count; ++i) op->writes.push_back(Write(i));
      op->cancel_after = CancelAfter(count);
      break;
    }
    case OpKind::kWritePageBatches: {
      const size_t batches = input_->Byte() % (kMaxBatches + 1);
      uint64_t request_id = 0;
      for (size_t i = 0; i < batches; ++i) {
        v1::WritePageBatchRequest& batch = op->batches.emplace_back();
        const size_t count = input_->Byte() % (kMaxBatchWrites + 1);
        for (size_t j = 0; j < count; ++j) *batch.add_writes() = Write(request_id++);
      }
      op->cancel_after = CancelAfter(batches);
      break;
    }
    case OpKind::kReadPage:
      op->read.set_volume(Name());
      op->read.set_page_index(Page(GeometryOf(op->read.volume())));
      break;
    case OpKind::kReadPages: {
      v1::ReadPagesRequest& read = op->read_range;
      read.set_volume(Name());
      const Geometry g = GeometryOf(read.volume());
      read.set_first_page_index(Page(g));
      const uint64_t rest =
          g.page_count() > read.first_page_index() ? g.page_count() - read.first_page_index() : 0;
      uint64_t count = 0;
      switch (Pick<ReadCountChoice>(input_)) {
        case ReadCountChoice::kZero:
          count = 0;
          break;
        case ReadCountChoice::kOne:
          count = 1;
          break;
        case ReadCountChoice::kTwo:
          count = 2;
          break;
        case ReadCountChoice::kRest:
          count = rest;
          break;
        case ReadCountChoice::kRestPlusOne:
          count = rest + 1;
          break;
        case ReadCountChoice::kMax:
          count = kMaxU64;
          break;
        case ReadCountChoice::kSmall:
          count = input_->Byte();
          break;
        case ReadCountChoice::kRaw:
        case ReadCountChoice::kCount:
          count = input_->U64();
          break;
      }
      read.set_page_count(count);
      break;
    }
    case OpKind::kFlush: {
      op->flush.set_volume(Name());
      op->cursor = Pick<CursorChoice>(input_);
      if (op->cursor == CursorChoice::kZero) op->flush.set_error_cursor(0);
      if (op->cursor == CursorChoice::kMax) op->flush.set_error_cursor(kMaxU64);
      if (op->cursor == CursorChoice::kRaw) op->flush.set_error_cursor(input_->U64());
      op->flush.set_group_page_events(input_->Bool());
      break;
    }
    case OpKind::kCount:
      break;
  }
  return true;
}

}  // namespace blockstore
