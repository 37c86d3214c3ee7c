#ifndef BLOCKSTORE_SERVER_FUZZ_FIXED_VOLUMES_H_
#define BLOCKSTORE_SERVER_FUZZ_FIXED_VOLUMES_H_

#include <cstdint>
#include <string>

namespace blockstore {

// The volumes the service fuzzer's server holds before its first input and keeps for the
// whole run. Inputs write into a, b and c, and create and delete volumes of their own (removed
// again after each input). The witness is named by inputs only in reads, flushes, info and
// writes made invalid on purpose, so its bytes never change: a request that changed them
// (a bad write, or any request on another volume) is a finding.
struct FixedVolume {
  const char* name;
  uint64_t size_bytes;
  uint32_t page_size_bytes;
  uint32_t block_size_bytes;
};

inline constexpr FixedVolume kFixedVolumes[] = {
    // 16 pages, one block each.
    {"a", 16 * 4096, 4096, 4096},
    // The largest pages of the smallest blocks; a partial last page of 9 blocks.
    {"b", 4 * 65536 + 9 * 512, 65536, 512},
    // 1 TiB (thin: only written pages take space): page indexes near the end are real.
    {"c", uint64_t{1} << 40, 16384, 4096},
    // The witness: 8 pages and a half of 4 KiB pages of 1 KiB blocks.
    {"w", 8 * 4096 + 2048, 4096, 1024},
};
inline constexpr int kFixedVolumeCount = sizeof(kFixedVolumes) / sizeof(kFixedVolumes[0]);
inline constexpr const char* kWitnessVolume = "w";

inline bool IsFixedVolume(const std::string& name) {
  for (const FixedVolume& volume : kFixedVolumes) {
    if (name == volume.name) return true;
  }
  return false;
}

// Byte `offset` of the witness, as written before the first input.
inline char WitnessByte(uint64_t offset) {
  return static_cast<char>((offset * 7 + offset / 1024 * 13 + 0x5a) & 0xff);
}

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_FUZZ_FIXED_VOLUMES_H_
