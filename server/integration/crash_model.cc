#include "server/integration/crash_model.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace blockstore {
namespace crash {
namespace {

constexpr char kMagic[8] = {'B', 'S', 'C', 'R', 'A', 'S', 'H', '1'};

uint64_t SplitMix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

void Put64(char* out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(value >> (8 * i));
}
void Put32(char* out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(value >> (8 * i));
}
uint64_t Get64(const char* in) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(in[i]);
  return value;
}
uint32_t Get32(const char* in) {
  uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(in[i]);
  return value;
}

std::string GenerationName(uint64_t generation) {
  return generation == 0 ? "zeros" : absl::StrCat("generation ", generation);
}

}  // namespace

std::string EncodeBlock(uint64_t seed, uint64_t volume_id, uint64_t page, uint32_t block,
                        uint64_t generation, uint32_t block_size) {
  std::string out(block_size, '\0');
  char* p = out.data();
  std::memcpy(p, kMagic, 8);
  Put64(p + 8, volume_id);
  Put64(p + 16, page);
  Put32(p + 24, block);
  Put32(p + 28, block_size);
  Put64(p + 32, generation);
  Put64(p + 40, seed);
  uint64_t x = SplitMix(SplitMix(SplitMix(SplitMix(seed ^ volume_id) ^ page) ^ block) ^ generation);
  for (size_t i = kBlockHeaderBytes; i < block_size; i += 8) {
    x = SplitMix(x);
    char word[8];
    Put64(word, x);
    std::memcpy(p + i, word, std::min<size_t>(8, block_size - i));
  }
  return out;
}

DecodedBlock DecodeBlock(absl::string_view bytes, uint64_t seed) {
  DecodedBlock decoded;
  if (std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; })) {
    decoded.kind = DecodedBlock::Kind::kZero;
    return decoded;
  }
  if (bytes.size() < kBlockHeaderBytes || std::memcmp(bytes.data(), kMagic, 8) != 0) {
    decoded.problem = "no block header (bytes the harness never wrote)";
    return decoded;
  }
  const char* p = bytes.data();
  decoded.volume_id = Get64(p + 8);
  decoded.page = Get64(p + 16);
  decoded.block = Get32(p + 24);
  const uint32_t block_size = Get32(p + 28);
  decoded.generation = Get64(p + 32);
  const uint64_t block_seed = Get64(p + 40);
  if (block_size != bytes.size() || block_seed != seed || decoded.generation == 0) {
    decoded.problem =
        absl::StrCat("a header with block size ", block_size, ", seed ", block_seed,
                     ", generation ", decoded.generation, " (not one the harness writes here)");
    return decoded;
  }
  if (EncodeBlock(seed, decoded.volume_id, decoded.page, decoded.block, decoded.generation,
                  block_size) != bytes) {
    decoded.problem =
        absl::StrCat("torn: the header names volume id ", decoded.volume_id, " page ", decoded.page,
                     " block ", decoded.block, " ", GenerationName(decoded.generation),
                     " but the rest of the block differs");
    return decoded;
  }
  decoded.kind = DecodedBlock::Kind::kValid;
  return decoded;
}

std::string DescribeBlock(absl::string_view bytes, uint64_t seed, uint64_t volume_id, uint64_t page,
                          uint32_t block) {
  const DecodedBlock decoded = DecodeBlock(bytes, seed);
  switch (decoded.kind) {
    case DecodedBlock::Kind::kZero:
      return "zeros";
    case DecodedBlock::Kind::kGarbage:
      return decoded.problem;
    case DecodedBlock::Kind::kValid:
      if (decoded.volume_id == volume_id && decoded.page == page && decoded.block == block) {
        return GenerationName(decoded.generation);
      }
      return absl::StrCat("volume id ", decoded.volume_id, " page ", decoded.page, " block ",
                          decoded.block, " ", GenerationName(decoded.generation));
  }
  return "?";
}

uint32_t Geometry::blocks_in_page(uint64_t page) const {
  const uint64_t start = page * page_size;
  if (start >= size_bytes) return 0;
  const uint64_t bytes = std::min<uint64_t>(page_size, size_bytes - start);
  return static_cast<uint32_t>(bytes / block_size);
}

VolumeModel::VolumeModel(std::string name, uint64_t volume_id, Geometry geometry)
    : name_(std::move(name)),
      volume_id_(volume_id),
      geometry_(geometry),
      blocks_(geometry.page_count() * geometry.blocks_per_page()) {}

VolumeModel::BlockState& VolumeModel::At(uint64_t page, uint32_t block) {
  return blocks_[page * geometry_.blocks_per_page() + block];
}

const VolumeModel::BlockState& VolumeModel::At(uint64_t page, uint32_t block) const {
  return blocks_[page * geometry_.blocks_per_page() + block];
}

WriteTicket VolumeModel::BeginWrite(uint64_t page, uint32_t first_block, uint32_t block_count,
                                    bool fua) {
  WriteTicket ticket;
  ticket.page = page;
  ticket.first_block = first_block;
  ticket.fua = fua;
  for (uint32_t i = 0; i < block_count; ++i) {
    BlockState& state = At(page, first_block + i);
    const uint64_t generation = ++state.assigned;
    state.sent.push_back(Sent{generation, false, 0});
    ticket.generations.push_back(generation);
  }
  return ticket;
}

std::string VolumeModel::Data(const WriteTicket& ticket, uint64_t seed) const {
  std::string data;
  data.reserve(ticket.generations.size() * geometry_.block_size);
  for (size_t i = 0; i < ticket.generations.size(); ++i) {
    data +=
        EncodeBlock(seed, volume_id_, ticket.page, ticket.first_block + static_cast<uint32_t>(i),
                    ticket.generations[i], geometry_.block_size);
  }
  return data;
}

void VolumeModel::Acknowledge(const WriteTicket& ticket, uint64_t ack_seq) {
  for (size_t i = 0; i < ticket.generations.size(); ++i) {
    BlockState& state = At(ticket.page, ticket.first_block + static_cast<uint32_t>(i));
    for (Sent& sent : state.sent) {
      if (sent.generation != ticket.generations[i]) continue;
      sent.acknowledged = true;
      sent.ack_seq = ack_seq;
    }
    if (ticket.fua) state.durable = std::max(state.durable, ticket.generations[i]);
  }
}

void VolumeModel::FlushSucceeded(uint64_t started_at) {
  for (BlockState& state : blocks_) {
    for (const Sent& sent : state.sent) {
      if (sent.acknowledged && sent.ack_seq <= started_at) {
        state.durable = std::max(state.durable, sent.generation);
      }
    }
  }
}

uint64_t VolumeModel::durable(uint64_t page, uint32_t block) const {
  return At(page, block).durable;
}

void VolumeModel::Report(CheckResult* result, const std::string& kind, uint64_t page,
                         uint32_t block, const std::string& what) const {
  result->violations.push_back(
      Violation{kind,
                absl::StrCat("volume ", name_, " (id ", volume_id_, ", ", geometry_.page_size, "/",
                             geometry_.block_size, ") page ", page, " block ", block, ": ", what),
                page, block});
}

void VolumeModel::CheckPage(uint64_t page, absl::string_view data, uint64_t seed,
                            CheckResult* result) {
  ++result->pages_checked;
  if (data.size() != geometry_.page_size) {
    Report(result, "short-page", page, 0,
           absl::StrCat("the read returned ", data.size(), " bytes, not ", geometry_.page_size));
    return;
  }
  const uint32_t inside = geometry_.blocks_in_page(page);
  for (uint32_t block = 0; block < geometry_.blocks_per_page(); ++block) {
    const absl::string_view bytes =
        data.substr(static_cast<size_t>(block) * geometry_.block_size, geometry_.block_size);
    if (block >= inside) {
      if (!std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; })) {
        Report(result, "past-end-not-zero", page, block,
               "a block past the end of the volume does not read as zeros");
      }
      continue;
    }
    CheckBlock(page, block, bytes, seed, result);
  }
}

void VolumeModel::CheckBlock(uint64_t page, uint32_t block, absl::string_view bytes, uint64_t seed,
                             CheckResult* result) {
  ++result->blocks_checked;
  BlockState& state = At(page, block);
  const DecodedBlock decoded = DecodeBlock(bytes, seed);
  uint64_t generation = 0;
  uint64_t max_acknowledged = 0;
  for (const Sent& sent : state.sent) {
    if (sent.acknowledged) max_acknowledged = std::max(max_acknowledged, sent.generation);
  }
  const std::string history =
      absl::StrCat(" (last durable: ", GenerationName(state.durable),
                   "; read at the last restart: ", GenerationName(state.base),
                   "; last acknowledged: ", GenerationName(max_acknowledged),
                   "; last sent: ", GenerationName(state.assigned), ")");
  bool readable = true;
  switch (decoded.kind) {
    case DecodedBlock::Kind::kZero:
      break;
    case DecodedBlock::Kind::kGarbage:
      Report(result, "garbage", page, block, decoded.problem + history);
      readable = false;
      break;
    case DecodedBlock::Kind::kValid:
      if (decoded.volume_id != volume_id_ || decoded.page != page || decoded.block != block) {
        Report(result, "misplaced", page, block,
               absl::StrCat("holds the block written to volume id ", decoded.volume_id, " page ",
                            decoded.page, " block ", decoded.block, " ",
                            GenerationName(decoded.generation), history));
        readable = false;
      } else {
        generation = decoded.generation;
      }
      break;
  }
  if (readable) {
    const bool sent_since_restart =
        std::any_of(state.sent.begin(), state.sent.end(),
                    [generation](const Sent& sent) { return sent.generation == generation; });
    if (generation > state.assigned) {
      Report(result, "never-written", page, block,
             absl::StrCat("reads ", GenerationName(generation), ", never written here", history));
    } else if (generation < state.durable) {
      Report(result, "durable-lost", page, block,
             absl::StrCat("reads ", GenerationName(generation), ", older than the durable ",
                          GenerationName(state.durable), history));
    } else if (generation < state.base) {
      Report(result, "went-back", page, block,
             absl::StrCat("reads ", GenerationName(generation),
                          ", older than what the previous restart read", history));
    } else if (generation != state.base && !sent_since_restart) {
      Report(result, "resurrected", page, block,
             absl::StrCat("reads ", GenerationName(generation),
                          ", a write from before the previous restart that was not there then",
                          history));
    }
    if (generation < max_acknowledged) {
      if (result->lost_blocks == 0) {
        result->lost_example =
            absl::StrCat("page ", page, " block ", block, " reads ", GenerationName(generation),
                         ", acknowledged ", GenerationName(max_acknowledged));
      }
      ++result->lost_blocks;
    }
  }
  // The next cycle starts from what is there now. A violation is reported once: the durable
  // floor follows what was read.
  state.base = generation;
  state.durable = std::min(state.durable, generation);
  state.sent.clear();
}

}  // namespace crash
}  // namespace blockstore
