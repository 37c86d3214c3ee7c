// Fuzz target: ParseVolumeConfig on arbitrary bytes, i.e. on whatever a crash, a full disk or
// an operator may leave in a volume's .conf file, which VolumeRegistry::Open parses at every
// start. Checked for each input, beyond the sanitizers: every refusal is DATA_LOSS (what makes
// the registry quarantine the volume instead of failing the start); a config it accepts passes
// ValidateVolumeConfig, has a page count that covers its size exactly, and serializes to text
// that parses back to the same config.

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "glog/logging.h"
#include "server/volume/volume_config.h"

namespace blockstore {
namespace {

void CheckOneConfig(absl::string_view text) {
  const absl::StatusOr<VolumeConfig> config = ParseVolumeConfig(text);
  if (!config.ok()) {
    CHECK(absl::IsDataLoss(config.status()))
        << "refused with a code other than DATA_LOSS: " << config.status();
    return;
  }
  const absl::Status valid = ValidateVolumeConfig(*config);
  CHECK(valid.ok()) << "accepted an invalid config: " << valid;
  // page_count() is what every page index is checked against: exactly ceil(size / page), done
  // here without the 64-bit sum that could wrap.
  const uint64_t pages = config->size_bytes / config->page_size_bytes +
                         (config->size_bytes % config->page_size_bytes != 0 ? 1 : 0);
  CHECK(config->size_bytes <= kMaxVolumeSizeBytes && config->page_count() == pages)
      << "page_count() of size_bytes " << config->size_bytes << " in pages of "
      << config->page_size_bytes;
  const std::string again = SerializeVolumeConfig(*config);
  const absl::StatusOr<VolumeConfig> reparsed = ParseVolumeConfig(again);
  CHECK(reparsed.ok()) << "its own serialization is refused: " << reparsed.status() << "\n"
                       << again;
  CHECK_EQ(reparsed->name, config->name);
  CHECK_EQ(reparsed->size_bytes, config->size_bytes);
  CHECK_EQ(reparsed->page_size_bytes, config->page_size_bytes);
  CHECK_EQ(reparsed->block_size_bytes, config->block_size_bytes);
}

}  // namespace
}  // namespace blockstore

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  blockstore::CheckOneConfig(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
