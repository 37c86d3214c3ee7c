#include "server/integration/soak_model.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace blockstore {
namespace soak {
namespace {

std::string GenerationName(uint64_t generation) {
  return generation == 0 ? "zeros" : absl::StrCat("generation ", generation);
}

}  // namespace

void ReadCheck::Add(const ReadCheck& other) {
  pages_checked += other.pages_checked;
  blocks_checked += other.blocks_checked;
  blocks_in_flight += other.blocks_in_flight;
  blocks_unsettled += other.blocks_unsettled;
  wrong_blocks += other.wrong_blocks;
  wrong_pages += other.wrong_pages;
  for (const auto& [kind, count] : other.wrong_by_kind) wrong_by_kind[kind] += count;
  for (const WrongRead& wrong : other.details) {
    if (details.size() >= max_details) break;
    details.push_back(wrong);
  }
}

VolumeModel::VolumeModel(std::string name, uint64_t volume_id, crash::Geometry geometry,
                         uint64_t seed)
    : name_(std::move(name)),
      volume_id_(volume_id),
      geometry_(geometry),
      seed_(seed),
      blocks_(geometry.page_count() * geometry.blocks_per_page()) {}

WriteTicket VolumeModel::BeginWrite(uint64_t page, uint32_t first_block, uint32_t block_count) {
  WriteTicket ticket;
  ticket.page = page;
  ticket.first_block = first_block;
  ticket.generations.reserve(block_count);
  absl::MutexLock lock(&mu_);
  for (uint32_t i = 0; i < block_count; ++i) {
    ticket.generations.push_back(++blocks_[IndexOf(page, first_block + i)].sent);
  }
  return ticket;
}

std::string VolumeModel::Data(const WriteTicket& ticket) const {
  std::string data;
  data.reserve(ticket.generations.size() * geometry_.block_size);
  for (size_t i = 0; i < ticket.generations.size(); ++i) {
    data += crash::EncodeBlock(seed_, volume_id_, ticket.page,
                               ticket.first_block + static_cast<uint32_t>(i), ticket.generations[i],
                               geometry_.block_size);
  }
  return data;
}

void VolumeModel::EndWrite(const WriteTicket& ticket, WriteOutcome outcome) {
  if (outcome == WriteOutcome::kRefused) return;
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < ticket.generations.size(); ++i) {
    BlockState& state = blocks_[IndexOf(ticket.page, ticket.first_block + i)];
    if (outcome == WriteOutcome::kUnknown) {
      state.unsettled = true;
    } else {
      // Answers of one stream may come out of order; the server took the writes in order.
      state.acknowledged = std::max(state.acknowledged, ticket.generations[i]);
    }
  }
}

ReadFloor VolumeModel::StartRead(uint64_t first_page, uint64_t page_count) const {
  ReadFloor floor;
  floor.first_page = first_page;
  floor.page_count = page_count;
  const uint32_t per_page = geometry_.blocks_per_page();
  floor.acknowledged.resize(page_count * per_page);
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < floor.acknowledged.size(); ++i) {
    floor.acknowledged[i] = blocks_[first_page * per_page + i].acknowledged;
  }
  return floor;
}

void VolumeModel::Wrong(ReadCheck* check, const char* kind, uint64_t page, uint32_t block,
                        const std::string& what) const {
  ++check->wrong_blocks;
  ++check->wrong_by_kind[kind];
  if (check->details.size() < check->max_details) {
    check->details.push_back({kind, absl::StrCat("volume ", name_, " (id ", volume_id_, ") page ",
                                                 page, " block ", block, ": ", what)});
  }
}

void VolumeModel::CheckPage(const ReadFloor& floor, uint64_t page, absl::string_view data,
                            ReadCheck* check) const {
  ++check->pages_checked;
  const uint64_t wrong_before = check->wrong_blocks;
  const uint32_t per_page = geometry_.blocks_per_page();
  const uint32_t block_size = geometry_.block_size;
  if (page < floor.first_page || page >= floor.first_page + floor.page_count) {
    Wrong(check, "misplaced", page, 0,
          absl::StrCat("the read of pages ", floor.first_page, "..",
                       floor.first_page + floor.page_count - 1, " returned this page"));
    ++check->wrong_pages;
    return;
  }
  if (data.size() != geometry_.page_size) {
    Wrong(check, "short-page", page, 0,
          absl::StrCat("the read returned ", data.size(), " bytes, not a page of ",
                       geometry_.page_size));
    ++check->wrong_pages;
    return;
  }
  // Decoded outside the lock: it re-encodes every block to compare.
  const uint32_t inside = geometry_.blocks_in_page(page);
  std::vector<crash::DecodedBlock> decoded(per_page);
  for (uint32_t block = 0; block < per_page; ++block) {
    decoded[block] = crash::DecodeBlock(data.substr(block * block_size, block_size), seed_);
  }
  std::vector<BlockState> now(inside);
  {
    absl::MutexLock lock(&mu_);
    for (uint32_t block = 0; block < inside; ++block) now[block] = blocks_[IndexOf(page, block)];
  }
  for (uint32_t block = 0; block < per_page; ++block) {
    ++check->blocks_checked;
    const crash::DecodedBlock& got = decoded[block];
    if (block >= inside) {
      if (got.kind != crash::DecodedBlock::Kind::kZero) {
        Wrong(check, "past-end-not-zero", page, block,
              absl::StrCat("past the end of the volume, yet not zeros: ",
                           crash::DescribeBlock(data.substr(block * block_size, block_size), seed_,
                                                volume_id_, page, block)));
      }
      continue;
    }
    const uint64_t least = floor.acknowledged[(page - floor.first_page) * per_page + block];
    const BlockState& state = now[block];
    if (got.kind == crash::DecodedBlock::Kind::kGarbage) {
      Wrong(check, "garbage", page, block,
            absl::StrCat(got.problem, " (acknowledged before the read: ", GenerationName(least),
                         "; sent so far: ", GenerationName(state.sent), ")"));
      continue;
    }
    uint64_t generation = 0;
    if (got.kind == crash::DecodedBlock::Kind::kValid) {
      if (got.volume_id != volume_id_ || got.page != page || got.block != block) {
        Wrong(check, "misplaced", page, block,
              absl::StrCat("holds volume id ", got.volume_id, " page ", got.page, " block ",
                           got.block, " ", GenerationName(got.generation),
                           " (acknowledged here before the read: ", GenerationName(least), ")"));
        continue;
      }
      generation = got.generation;
    }
    if (generation > state.sent) {
      Wrong(check, "never-written", page, block,
            absl::StrCat("read ", GenerationName(generation), ", but only ",
                         GenerationName(state.sent), " was ever sent"));
      continue;
    }
    if (state.unsettled) {
      ++check->blocks_unsettled;
      continue;
    }
    if (generation < least) {
      Wrong(check, "stale", page, block,
            absl::StrCat("read ", GenerationName(generation), ", but ", GenerationName(least),
                         " was acknowledged before the read started (newest acknowledged now: ",
                         GenerationName(state.acknowledged), ", sent: ", GenerationName(state.sent),
                         ")"));
      continue;
    }
    if (generation > least) ++check->blocks_in_flight;
  }
  if (check->wrong_blocks != wrong_before) ++check->wrong_pages;
}

uint64_t VolumeModel::acknowledged(uint64_t page, uint32_t block) const {
  absl::MutexLock lock(&mu_);
  return blocks_[IndexOf(page, block)].acknowledged;
}

}  // namespace soak
}  // namespace blockstore
