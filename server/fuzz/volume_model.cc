#include "server/fuzz/volume_model.h"

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace blockstore {
namespace {

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

// Whether a write of `length` bytes at `offset` into page `page` keeps to the volume's
// geometry, by the .proto's words on WritePageRequest: INVALID_ARGUMENT for the block
// alignment, empty data and the page's end; OUT_OF_RANGE for the volume's end.
CodeSet WriteGeometryCodes(const Geometry& geometry, uint64_t page, uint64_t offset,
                           uint64_t length) {
  CodeSet codes;
  const uint64_t block = geometry.block_size_bytes;
  if (length == 0 || offset % block != 0 || length % block != 0 ||
      offset + length > geometry.page_size_bytes) {
    codes.Add(grpc::StatusCode::INVALID_ARGUMENT);
  }
  if (page >= geometry.page_count()) {
    codes.Add(grpc::StatusCode::OUT_OF_RANGE);
  } else {
    // page < page_count, so page * page_size stays below size + page_size: no wrap in 128 bits.
    const unsigned __int128 end =
        static_cast<unsigned __int128>(page) * geometry.page_size_bytes + offset + length;
    if (end > geometry.size_bytes) codes.Add(grpc::StatusCode::OUT_OF_RANGE);
  }
  return codes;
}

CodeSet OkIfEmpty(CodeSet codes) { return codes.empty() ? CodeSet{grpc::StatusCode::OK} : codes; }

}  // namespace

std::string StatusCodeName(grpc::StatusCode code) {
  // absl and gRPC codes are numerically equal; abseil names them as gRPC does.
  const std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? absl::StrCat("CODE_", static_cast<int>(code)) : name;
}

std::string CodeSet::ToString() const {
  std::vector<std::string> names;
  for (int code = 0; code < 32; ++code) {
    if (Contains(static_cast<grpc::StatusCode>(code))) {
      names.push_back(StatusCodeName(static_cast<grpc::StatusCode>(code)));
    }
  }
  return absl::StrCat("{", absl::StrJoin(names, ", "), "}");
}

bool IsValidVolumeName(absl::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  if (!absl::ascii_isalnum(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

void VolumeModel::Add(const std::string& name, const Geometry& geometry) {
  volumes_[name] = Volume{geometry, {}};
}

void VolumeModel::Remove(const std::string& name) { volumes_.erase(name); }

const Geometry* VolumeModel::Find(const std::string& name) const {
  auto it = volumes_.find(name);
  return it == volumes_.end() ? nullptr : &it->second.geometry;
}

std::vector<std::string> VolumeModel::Names() const {
  std::vector<std::string> names;
  for (const auto& entry : volumes_) names.push_back(entry.first);
  return names;
}

CodeSet VolumeModel::ExpectVolume(const std::string& name) const {
  if (!IsValidVolumeName(name)) return {grpc::StatusCode::INVALID_ARGUMENT};
  if (Find(name) == nullptr) return {grpc::StatusCode::NOT_FOUND};
  return {grpc::StatusCode::OK};
}

CodeSet VolumeModel::ExpectCreate(const v1::CreateVolumeRequest& request) const {
  CodeSet codes;
  const uint64_t page = request.page_size_bytes() == 0 ? 4096 : request.page_size_bytes();
  const uint64_t block = request.block_size_bytes() == 0 ? 4096 : request.block_size_bytes();
  if (!IsValidVolumeName(request.name()) || request.size_bytes() == 0 || !IsPowerOfTwo(page) ||
      page < 4096 || page > 65536 || !IsPowerOfTwo(block) || block < 512 || block > page ||
      request.size_bytes() % block != 0 || request.size_bytes() > (uint64_t{1} << 60)) {
    codes.Add(grpc::StatusCode::INVALID_ARGUMENT);
  }
  if (Find(request.name()) != nullptr) codes.Add(grpc::StatusCode::ALREADY_EXISTS);
  return OkIfEmpty(codes);
}

CodeSet VolumeModel::ExpectWrite(const v1::WritePageRequest& request) const {
  const CodeSet volume = ExpectVolume(request.volume());
  if (!volume.Contains(grpc::StatusCode::OK)) return volume;
  return OkIfEmpty(WriteGeometryCodes(*Find(request.volume()), request.page_index(),
                                      request.offset_bytes(), request.data().size()));
}

CodeSet VolumeModel::ExpectReadPage(const v1::ReadPageRequest& request) const {
  const CodeSet volume = ExpectVolume(request.volume());
  if (!volume.Contains(grpc::StatusCode::OK)) return volume;
  if (request.page_index() >= Find(request.volume())->page_count()) {
    return {grpc::StatusCode::OUT_OF_RANGE};
  }
  return {grpc::StatusCode::OK};
}

CodeSet VolumeModel::ExpectReadPages(const v1::ReadPagesRequest& request) const {
  const CodeSet volume = ExpectVolume(request.volume());
  if (!volume.Contains(grpc::StatusCode::OK)) return volume;
  CodeSet codes;
  if (request.page_count() == 0) codes.Add(grpc::StatusCode::INVALID_ARGUMENT);
  const unsigned __int128 end =
      static_cast<unsigned __int128>(request.first_page_index()) + request.page_count();
  if (end > Find(request.volume())->page_count()) codes.Add(grpc::StatusCode::OUT_OF_RANGE);
  return OkIfEmpty(codes);
}

void VolumeModel::ApplyWrite(const v1::WritePageRequest& request) {
  auto it = volumes_.find(request.volume());
  if (it == volumes_.end()) return;
  Volume& volume = it->second;
  const Geometry& g = volume.geometry;
  if (!WriteGeometryCodes(g, request.page_index(), request.offset_bytes(), request.data().size())
           .empty()) {
    return;
  }
  const uint64_t first =
      (request.page_index() * g.page_size_bytes + request.offset_bytes()) / g.block_size_bytes;
  for (uint64_t i = 0; i * g.block_size_bytes < request.data().size(); ++i) {
    Block& block = volume.blocks[first + i];
    block.bytes = request.data().substr(i * g.block_size_bytes, g.block_size_bytes);
    // An unknown block stays unknown: a write with no answer may still land after this one.
  }
}

void VolumeModel::ForgetWrite(const v1::WritePageRequest& request) {
  auto it = volumes_.find(request.volume());
  if (it == volumes_.end()) return;
  Volume& volume = it->second;
  const Geometry& g = volume.geometry;
  if (!WriteGeometryCodes(g, request.page_index(), request.offset_bytes(), request.data().size())
           .empty()) {
    return;
  }
  const uint64_t first =
      (request.page_index() * g.page_size_bytes + request.offset_bytes()) / g.block_size_bytes;
  for (uint64_t i = 0; i * g.block_size_bytes < request.data().size(); ++i) {
    volume.blocks[first + i].known = false;
  }
}

std::string VolumeModel::CheckPage(const std::string& name, uint64_t page_index,
                                   absl::string_view data) const {
  auto it = volumes_.find(name);
  if (it == volumes_.end()) return absl::StrCat("volume ", name, " is not in the model");
  const Volume& volume = it->second;
  const Geometry& g = volume.geometry;
  if (data.size() != g.page_size_bytes) {
    return absl::StrCat("page ", page_index, " of ", name, " is ", data.size(),
                        " bytes, not the page size ", g.page_size_bytes);
  }
  const uint64_t blocks_per_page = g.page_size_bytes / g.block_size_bytes;
  for (uint64_t b = 0; b < blocks_per_page; ++b) {
    const absl::string_view got = data.substr(b * g.block_size_bytes, g.block_size_bytes);
    const unsigned __int128 start =
        static_cast<unsigned __int128>(page_index) * g.page_size_bytes + b * g.block_size_bytes;
    std::string want;  // empty: zeros
    if (start < g.size_bytes) {
      auto block = volume.blocks.find(page_index * blocks_per_page + b);
      if (block != volume.blocks.end()) {
        if (!block->second.known) continue;
        want = block->second.bytes;
      }
    }
    const bool same = want.empty()
                          ? std::all_of(got.begin(), got.end(), [](char c) { return c == 0; })
                          : got == want;
    if (!same) {
      size_t at = 0;
      while (at < got.size() && got[at] == (want.empty() ? 0 : want[at])) ++at;
      return absl::StrCat(
          "volume ", name, " page ", page_index, " block ", b,
          start < g.size_bytes ? "" : " (past the end of the volume)", ": byte ", at, " is ",
          static_cast<int>(static_cast<unsigned char>(got[at])), ", expected ",
          want.empty() ? 0 : static_cast<int>(static_cast<unsigned char>(want[at])),
          want.empty() ? " (nothing acknowledged there: zeros)" : " (the last acknowledged write)",
          "; the block holds ", DescribeBlock(got), "; expected ",
          want.empty() ? "zeros" : DescribeBlock(want));
    }
  }
  return "";
}

std::vector<uint64_t> VolumeModel::UnknownPages(const std::string& name) const {
  std::vector<uint64_t> pages;
  auto it = volumes_.find(name);
  if (it == volumes_.end()) return pages;
  const Geometry& g = it->second.geometry;
  const uint64_t blocks_per_page = g.page_size_bytes / g.block_size_bytes;
  for (const auto& entry : it->second.blocks) {
    if (entry.second.known) continue;
    const uint64_t page = entry.first / blocks_per_page;
    if (pages.empty() || pages.back() != page) pages.push_back(page);
  }
  return pages;
}

void VolumeModel::Adopt(const std::string& name, uint64_t page_index, absl::string_view data) {
  auto it = volumes_.find(name);
  if (it == volumes_.end()) return;
  const Geometry& g = it->second.geometry;
  if (data.size() != g.page_size_bytes) return;
  const uint64_t blocks_per_page = g.page_size_bytes / g.block_size_bytes;
  for (uint64_t b = 0; b < blocks_per_page; ++b) {
    auto block = it->second.blocks.find(page_index * blocks_per_page + b);
    if (block == it->second.blocks.end() || block->second.known) continue;
    block->second.bytes = std::string(data.substr(b * g.block_size_bytes, g.block_size_bytes));
    block->second.known = true;
  }
}

void VolumeModel::LogWrite(const v1::WritePageRequest& request, const std::string& outcome) {
  if (request.data().size() < 16) return;  // carries no serial
  uint64_t serial;
  std::memcpy(&serial, request.data().data(), sizeof(serial));
  write_log_[serial] = outcome;
  while (write_log_.size() > (size_t{1} << 18)) write_log_.erase(write_log_.begin());
}

std::string VolumeModel::DescribeBlock(absl::string_view block) const {
  if (std::all_of(block.begin(), block.end(), [](char c) { return c == 0; })) return "zeros";
  if (block.size() < 16) return "no serial";
  uint64_t serial, offset;
  std::memcpy(&serial, block.data(), sizeof(serial));
  std::memcpy(&offset, block.data() + 8, sizeof(offset));
  auto it = write_log_.find(serial);
  return absl::StrCat("bytes ", offset, ".. of write #", serial, ": ",
                      it == write_log_.end() ? "no such write in the log" : it->second);
}

}  // namespace blockstore
