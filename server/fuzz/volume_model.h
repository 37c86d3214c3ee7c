#ifndef BLOCKSTORE_SERVER_FUZZ_VOLUME_MODEL_H_
#define BLOCKSTORE_SERVER_FUZZ_VOLUME_MODEL_H_

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "blockstore/v1/blockstore.pb.h"
#include "grpcpp/grpcpp.h"

namespace blockstore {

// A set of gRPC status codes.
class CodeSet {
 public:
  CodeSet() = default;
  CodeSet(std::initializer_list<grpc::StatusCode> codes) {
    for (grpc::StatusCode code : codes) Add(code);
  }
  void Add(grpc::StatusCode code) { bits_ |= Bit(code); }
  void Add(CodeSet other) { bits_ |= other.bits_; }
  bool Contains(grpc::StatusCode code) const { return (bits_ & Bit(code)) != 0; }
  bool empty() const { return bits_ == 0; }
  std::string ToString() const;  // "{OK, NOT_FOUND}"

 private:
  // Codes outside 0..31 (none exist) are in no set.
  static uint32_t Bit(grpc::StatusCode code) {
    const int value = static_cast<int>(code);
    return value >= 0 && value < 32 ? uint32_t{1} << value : 0;
  }

  uint32_t bits_ = 0;
};

std::string StatusCodeName(grpc::StatusCode code);

// A volume's geometry, as CreateVolume was asked for it (0 sizes already replaced).
struct Geometry {
  uint64_t size_bytes = 0;
  uint32_t page_size_bytes = 0;
  uint32_t block_size_bytes = 0;
  // ceil(size / page), without a sum that could wrap.
  uint64_t page_count() const {
    return size_bytes / page_size_bytes + (size_bytes % page_size_bytes != 0 ? 1 : 0);
  }
};

// The .proto's rule for a volume name, written again from its text: [A-Za-z0-9][A-Za-z0-9._-]*,
// at most 128 bytes (so "." and ".." never pass).
bool IsValidVolumeName(absl::string_view name);

// What a client that made every call itself knows of the server's volumes: which exist, their
// geometry, and per block the bytes of the last write acknowledged there (zeros if none), or
// that the block is unknown. From it the service fuzzer predicts each request's status code by
// the .proto's rules, written again here rather than taken from the server's validation code,
// so that the two can disagree; and checks every page a read returns.
//
// A block is unknown after a write whose outcome was never reported (a stream cancelled or
// broken before its answer): the .proto says such a write may or may not have been taken, and
// orders it against nothing, so it may even land after later writes. The block stays unknown
// (later writes to it included) until Adopt, once every call has ended on the server.
//
// Not thread-safe: the fuzzer makes one call at a time.
class VolumeModel {
 public:
  void Add(const std::string& name, const Geometry& geometry);
  void Remove(const std::string& name);
  // nullptr if there is no such volume.
  const Geometry* Find(const std::string& name) const;
  // Sorted, as ListVolumes answers.
  std::vector<std::string> Names() const;

  // The codes the .proto allows for each request, from the rules it breaks: every broken
  // rule's code (the .proto orders none before another), or {OK} if it breaks none. Codes a
  // call gets from the environment (a full disk, the dirty limit) are the caller's to add.
  CodeSet ExpectVolume(const std::string& name) const;  // GetVolumeInfo, DeleteVolume, Flush
  CodeSet ExpectCreate(const v1::CreateVolumeRequest& request) const;
  CodeSet ExpectWrite(const v1::WritePageRequest& request) const;
  CodeSet ExpectReadPage(const v1::ReadPageRequest& request) const;
  CodeSet ExpectReadPages(const v1::ReadPagesRequest& request) const;

  // A write acknowledged OK: its blocks now hold its data.
  void ApplyWrite(const v1::WritePageRequest& request);
  // A write that may or may not have been taken: its blocks become unknown. A request that
  // names no known volume, or breaks the geometry rules, changes nothing.
  void ForgetWrite(const v1::WritePageRequest& request);

  // Empty if `data` is what page `page_index` of volume `name` may hold (a whole page; zeros
  // past the end of the volume); otherwise what differs, first block first.
  std::string CheckPage(const std::string& name, uint64_t page_index, absl::string_view data) const;
  // Pages of `name` with an unknown block.
  std::vector<uint64_t> UnknownPages(const std::string& name) const;
  // Takes `data`, read after a flush, as what the unknown blocks of the page hold.
  void Adopt(const std::string& name, uint64_t page_index, absl::string_view data);

  // For the report of a read that differs: what became of each write, by the serial its data
  // carries (WriteData: the first 8 bytes of every 512), e.g. "input 7, WritePages: volume:
  // ... -> acknowledged". The last 2^18 writes are kept.
  void LogWrite(const v1::WritePageRequest& request, const std::string& outcome);
  // Whose bytes `block` (a block read from a volume) holds, from the log.
  std::string DescribeBlock(absl::string_view block) const;

 private:
  struct Block {
    std::string bytes;
    bool known = true;
  };
  struct Volume {
    Geometry geometry;
    std::map<uint64_t, Block> blocks;  // by block index in the volume; absent: zeros
  };

  std::map<std::string, Volume> volumes_;
  std::map<uint64_t, std::string> write_log_;  // by serial, which only grows
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_FUZZ_VOLUME_MODEL_H_
