#include "server/volume/volume_state.h"

#include <cerrno>
#include <vector>

#include "absl/random/distributions.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/common/io_status.h"
#include "server/volume/volume_file.h"

namespace blockstore {

uint32_t FirstIncarnation(absl::BitGenRef gen) {
  return absl::Uniform<uint32_t>(absl::IntervalClosed, gen, 1, kMaxIncarnation);
}

uint32_t NextIncarnation(uint32_t incarnation) {
  return incarnation >= kMaxIncarnation ? 1 : incarnation + 1;
}

std::string SerializeVolumeState(const VolumeState& state) {
  return absl::StrCat("format=1\nincarnation=", state.incarnation, "\nclean=", state.clean ? 1 : 0,
                      "\n");
}

absl::StatusOr<VolumeState> ParseVolumeState(absl::string_view text) {
  VolumeState state;
  bool seen_format = false, seen_incarnation = false, seen_clean = false;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    std::vector<absl::string_view> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    uint32_t value = 0;
    if (kv.size() != 2 || !absl::SimpleAtoi(kv[1], &value)) {
      return absl::DataLossError(absl::StrCat("bad state line: ", line));
    }
    if (kv[0] == "format" && value == 1) {
      seen_format = true;
    } else if (kv[0] == "incarnation" && value <= kMaxIncarnation) {
      state.incarnation = value;
      seen_incarnation = true;
    } else if (kv[0] == "clean" && value <= 1) {
      state.clean = value == 1;
      seen_clean = true;
    } else {
      return absl::DataLossError(absl::StrCat("bad state line: ", line));
    }
  }
  if (!seen_format || !seen_incarnation || !seen_clean) {
    return absl::DataLossError("state file lacks format=1, incarnation or clean");
  }
  return state;
}

absl::StatusOr<VolumeState> ReadVolumeState(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileText(path);
  if (absl::IsNotFound(text.status())) return VolumeState();
  if (!text.ok()) return text.status();
  absl::StatusOr<VolumeState> state = ParseVolumeState(*text);
  if (!state.ok()) return absl::DataLossError(absl::StrCat(path, ": ", state.status().message()));
  return state;
}

absl::Status WriteVolumeState(const std::string& dir, const std::string& path,
                              const VolumeState& state) {
  return WriteFileDurably(dir, path, SerializeVolumeState(state));
}

}  // namespace blockstore
