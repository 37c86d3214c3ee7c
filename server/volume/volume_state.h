#ifndef BLOCKSTORE_SERVER_VOLUME_VOLUME_STATE_H_
#define BLOCKSTORE_SERVER_VOLUME_VOLUME_STATE_H_

#include <cstdint>
#include <string>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace blockstore {

// A volume's lifecycle record, kept beside its data (`NAME.state`): which incarnation of the
// volume is serving, and whether the last one stopped cleanly (every acknowledged write was
// made durable before the process let go of the volume).
//
// Why: an error cursor promises that a Flush covers every write acknowledged before it started
// (R21). A process that dies loses its page cache, and with it writes it acknowledged; the
// incarnation, carried in every cursor, lets the next process tell a cursor from before the
// crash (DATA_LOSS, once) from one of its own. Kernel analogue: none; the kernel's errseq_t
// lives in memory and a crash takes the fd with it, which a network client outlives.
struct VolumeState {
  // 1 .. kMaxIncarnation: a random start at creation (so a cursor of a deleted volume never
  // matches a new one of the same name), then one more after every unclean stop. 0: a volume
  // created before incarnations existed, until its first unclean stop. Kept below 2^31 so a
  // cursor prints as a positive int64 (blockctl's --error_cursor).
  uint32_t incarnation = 0;
  bool clean = true;
};

constexpr uint32_t kMaxIncarnation = (1u << 31) - 1;

// The incarnation a new volume starts with.
uint32_t FirstIncarnation(absl::BitGenRef gen);
// The incarnation after an unclean stop of `incarnation` (wraps within 1 .. kMaxIncarnation).
uint32_t NextIncarnation(uint32_t incarnation);

// The file format: "format=1\nincarnation=N\nclean=0|1\n".
std::string SerializeVolumeState(const VolumeState& state);
// DataLoss naming the line at fault.
absl::StatusOr<VolumeState> ParseVolumeState(absl::string_view text);

// Reads `path`; a missing file is a volume from before state files: incarnation 0, clean.
absl::StatusOr<VolumeState> ReadVolumeState(const std::string& path);
// Writes `path` atomically and durably (temporary file, fsync, rename, fsync of `dir`).
absl::Status WriteVolumeState(const std::string& dir, const std::string& path,
                              const VolumeState& state);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_VOLUME_VOLUME_STATE_H_
