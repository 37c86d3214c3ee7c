#ifndef BLOCKSTORE_SERVER_VOLUME_VOLUME_TEST_HELPERS_H_
#define BLOCKSTORE_SERVER_VOLUME_VOLUME_TEST_HELPERS_H_

// Helpers for tests that drive a whole Volume on the fake and faulty backends (testonly).

#include <cstdint>

#include "absl/time/time.h"
#include "server/volume/flush_waiter.h"
#include "server/volume/volume.h"

namespace blockstore {
namespace testing_harness {

// The volume the fake-device tests use: "v", `pages` pages of 4 KiB, 4 KiB blocks (one block
// per page, so each page not next to another is a bio of its own).
inline VolumeConfig FourKiBVolumeConfig(uint64_t pages) {
  VolumeConfig config;
  config.name = "v";
  config.size_bytes = pages * 4096;
  config.page_size_bytes = 4096;
  config.block_size_bytes = 4096;
  return config;
}

// Volume options that leave all writeback to explicit Flush calls: no expiry, no background
// threshold a test reaches, a flusher that wakes once an hour.
inline VolumeOptions QuietVolumeOptions() {
  VolumeOptions options;
  options.cache_bytes = 64ull << 20;
  options.dirty_limit_bytes = 32ull << 20;
  options.dirty_background_bytes = 32ull << 20;
  options.dirty_expire = absl::Hours(1);
  options.flusher_interval = absl::Hours(1);
  return options;
}

}  // namespace testing_harness
}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_VOLUME_VOLUME_TEST_HELPERS_H_
