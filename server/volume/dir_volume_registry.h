#ifndef BLOCKSTORE_SERVER_VOLUME_DIR_VOLUME_REGISTRY_H_
#define BLOCKSTORE_SERVER_VOLUME_DIR_VOLUME_REGISTRY_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/io/io_backend.h"
#include "server/volume/volume_registry.h"

namespace blockstore {

// The volumes of one data directory (--store=dir, the default): <data_dir>/<name>.vol (the
// data, O_DIRECT, through the server's one IoBackend), <data_dir>/<name>.conf (its
// VolumeConfig, written last by Create and removed first by Delete: a volume exists once its
// config is durable) and <data_dir>/<name>.state (its VolumeState). Open reopens every volume
// found; a .vol or .state without its .conf, or a temporary file, is what a crash left of a
// Create, a Delete or a file write, and is removed; a volume that cannot be served is
// quarantined (renamed aside) while the others are served.
//
// Thread-safe.
class DirVolumeRegistry final : public VolumeRegistry {
 public:
  static absl::StatusOr<std::unique_ptr<VolumeRegistry>> Open(const std::string& data_dir,
                                                              const VolumeOptions& options,
                                                              IoBackend* backend);

  std::string Describe() const override { return "data_dir " + data_dir_; }
  // A data directory has one server: no locks.
  StoreStats store_stats() const override { return StoreStats{"dir"}; }

 private:
  DirVolumeRegistry(std::string data_dir, const VolumeOptions& options, IoBackend* backend)
      : VolumeRegistry(options), data_dir_(std::move(data_dir)), backend_(backend) {}

  std::string DataPath(const std::string& name) const;
  std::string ConfigPath(const std::string& name) const;
  std::string StatePath(const std::string& name) const;
  // Opens the volume whose .conf is there, at its next incarnation if it stopped uncleanly.
  absl::Status OpenExisting(const std::string& name);
  void Quarantine(const std::string& name);

  absl::StatusOr<std::shared_ptr<Volume>> CreateStored(const VolumeConfig& config,
                                                       const VolumeState& state) override;
  absl::Status DeleteStored(const std::string& name, std::shared_ptr<Volume> volume) override;
  absl::Status WriteState(const std::string& name, const VolumeState& state) override;

  const std::string data_dir_;
  IoBackend* const backend_;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_VOLUME_DIR_VOLUME_REGISTRY_H_
