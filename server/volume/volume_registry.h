#ifndef BLOCKSTORE_SERVER_VOLUME_VOLUME_REGISTRY_H_
#define BLOCKSTORE_SERVER_VOLUME_VOLUME_REGISTRY_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/volume/volume.h"
#include "server/volume/volume_state.h"

namespace blockstore {

// The volumes of one data directory: <data_dir>/<name>.vol (the data, O_DIRECT),
// <data_dir>/<name>.conf (its VolumeConfig) and <data_dir>/<name>.state (its incarnation and
// whether it stopped cleanly: VolumeState). Open() reopens every volume found, so volumes
// persist across restarts; a volume whose last run did not stop cleanly (no OK shutdown flush)
// opens as a new incarnation, so cursors from before the crash get DATA_LOSS once.
//
// Thread-safe.
class MemoryBudget;

class VolumeRegistry {
 public:
  static absl::StatusOr<std::unique_ptr<VolumeRegistry>> Open(const std::string& data_dir,
                                                              const VolumeOptions& options,
                                                              IoBackend* backend);
  ~VolumeRegistry();

  // InvalidArgument (bad name or geometry, naming the field), AlreadyExists, or an IO error.
  absl::StatusOr<std::shared_ptr<Volume>> Create(const VolumeConfig& config)
      ABSL_LOCKS_EXCLUDED(mu_);
  // NotFound. Waits until the volume's IO in flight has drained (R27), drops its cached pages
  // without writing them and removes its files.
  absl::Status Delete(const std::string& name) ABSL_LOCKS_EXCLUDED(mu_);
  // NotFound.
  absl::StatusOr<std::shared_ptr<Volume>> Get(const std::string& name) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Sorted by name.
  std::vector<std::shared_ptr<Volume>> List() const ABSL_LOCKS_EXCLUDED(mu_);

  // Shutdown: every volume stops accepting writes, every dirty page of every volume is flushed.
  // Returns OK only when nothing was lost; otherwise the first error, and `failures` (optional)
  // gets one line per volume that failed.
  absl::Status StopAndFlushAll(std::vector<std::string>* failures = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);

  const std::string& data_dir() const { return data_dir_; }

  // What Open() found that a crash left behind, and did about it (logged, and exported as
  // blockstore_startup_leftovers_total).
  struct Recovery {
    // Files no volume owns: a .vol or .state without its .conf (a CreateVolume or DeleteVolume
    // cut short), a temporary file of a cut-short write. Removed: no client was ever told such
    // a volume exists, or every client was told it is gone.
    uint64_t leftovers_removed = 0;
    // Volumes whose files cannot be served (an unreadable or inconsistent .conf, a missing or
    // resized .vol): their files are renamed NAME.*.quarantined-<time> for an operator, the
    // name is free, and every other volume is served.
    uint64_t volumes_quarantined = 0;
  };
  const Recovery& recovery() const { return recovery_; }

 private:
  VolumeRegistry(std::string data_dir, const VolumeOptions& options, IoBackend* backend);
  std::string DataPath(const std::string& name) const;
  std::string ConfigPath(const std::string& name) const;
  std::string StatePath(const std::string& name) const;
  // Opens the volume whose .conf is there, at its next incarnation if it stopped uncleanly.
  absl::Status OpenExisting(const std::string& name) ABSL_LOCKS_EXCLUDED(mu_);
  void Quarantine(const std::string& name);
  // Create's file work, done without mu_.
  absl::StatusOr<std::shared_ptr<Volume>> CreateFiles(const VolumeConfig& config,
                                                      const VolumeState& state)
      ABSL_LOCKS_EXCLUDED(mu_);

  const std::string data_dir_;
  const VolumeOptions options_;
  IoBackend* const backend_;
  // Shared by every volume: --cache_bytes bounds the server's page memory, not each volume's.
  const std::unique_ptr<MemoryBudget> budget_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Volume>> volumes_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::set<std::string> creating_ ABSL_GUARDED_BY(mu_);  // names Create has reserved
  Recovery recovery_;                                    // set by Open(), constant afterwards
  absl::BitGen gen_ ABSL_GUARDED_BY(mu_);                // first incarnations
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_VOLUME_VOLUME_REGISTRY_H_
