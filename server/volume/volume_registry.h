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

class MemoryBudget;

// The payload of a FailedPrecondition that says which server holds a volume: its address.
constexpr char kOwnerPayload[] = "blockstore/owner";

// The volumes a server serves, by name, over a store that keeps each volume's data, its
// VolumeConfig and its VolumeState (incarnation, clean stop) across restarts: a data directory
// (DirVolumeRegistry, dir_volume_registry.h; `VolumeRegistry::Open`) or a Ceph RBD pool
// (RbdVolumeRegistry, rbd_volume_registry.h). This class keeps what both share: the map of open
// volumes, the page memory budget, the limits, and the incarnation protocol (a volume whose last
// run did not stop cleanly opens as a new incarnation, so cursors from before the crash get
// DATA_LOSS once; an OK shutdown flush records a clean stop). A store adds the hooks below.
//
// Thread-safe.
class VolumeRegistry {
 public:
  // The volumes of the data directory `data_dir` (DirVolumeRegistry): created if missing,
  // every volume found reopened, crash leftovers removed or quarantined (recovery()).
  static absl::StatusOr<std::unique_ptr<VolumeRegistry>> Open(const std::string& data_dir,
                                                              const VolumeOptions& options,
                                                              IoBackend* backend);
  virtual ~VolumeRegistry();

  VolumeRegistry(const VolumeRegistry&) = delete;
  VolumeRegistry& operator=(const VolumeRegistry&) = delete;

  // InvalidArgument (bad name or geometry, naming the field), AlreadyExists, or an IO error.
  absl::StatusOr<std::shared_ptr<Volume>> Create(const VolumeConfig& config)
      ABSL_LOCKS_EXCLUDED(mu_);
  // NotFound. Waits until the volume's IO in flight has drained (R27), drops its cached pages
  // without writing them and removes its stored data.
  absl::Status Delete(const std::string& name) ABSL_LOCKS_EXCLUDED(mu_);
  // NotFound, or what the store says of a volume it knows but does not serve here
  // (FailedPrecondition naming its owner, the address also as the kOwnerPayload payload). A
  // store may open a volume here that nobody serves (OpenUnserved).
  absl::StatusOr<std::shared_ptr<Volume>> Get(const std::string& name) ABSL_LOCKS_EXCLUDED(mu_);

  // Where `name` is served: this server (advertised_address()), or the owner that Get names.
  struct Location {
    std::string owner;
    bool served_here = false;
  };
  absl::StatusOr<Location> Locate(const std::string& name) ABSL_LOCKS_EXCLUDED(mu_);

  // The address clients dial to reach this server (--advertise_address), once it is bound; a
  // store that shares volumes between servers publishes it for each volume it serves.
  virtual void SetAdvertisedAddress(const std::string& address) ABSL_LOCKS_EXCLUDED(mu_);
  std::string advertised_address() const ABSL_LOCKS_EXCLUDED(mu_);
  // The volumes served here, sorted by name.
  std::vector<std::shared_ptr<Volume>> List() const ABSL_LOCKS_EXCLUDED(mu_);

  // Shutdown: every volume stops accepting writes, every dirty page of every volume is flushed.
  // Returns OK only when nothing was lost; otherwise the first error, and `failures` (optional)
  // gets one line per volume that failed.
  absl::Status StopAndFlushAll(std::vector<std::string>* failures = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Where the volumes live, for logs: "data_dir data/blockstore", "rbd pool rbd".
  virtual std::string Describe() const = 0;

  // What the store counts, for metrics (blockstore_store_info, blockstore_volume_locks_*).
  struct StoreStats {
    std::string store;            // "dir", "rbd"
    uint64_t locks_acquired = 0;  // volume locks this server took (created, opened, taken over)
    // Failovers: volumes this server took over from an owner that stopped uncleanly (died or
    // was cut off), whose lock was broken after fencing it.
    uint64_t failovers = 0;
    // Locks lost: volumes whose device came back fenced while this server served them (another
    // server fenced it and took them over): their writes now fail FAILED_PRECONDITION.
    uint64_t locks_lost = 0;
  };
  virtual StoreStats store_stats() const = 0;

  // What opening the store found that a crash left behind, and did about it (logged, and
  // exported as blockstore_startup_leftovers_total).
  struct Recovery {
    // Stored data no volume owns (a CreateVolume or DeleteVolume cut short, a temporary file
    // of a cut-short write). Removed: no client was ever told such a volume exists, or every
    // client was told it is gone.
    uint64_t leftovers_removed = 0;
    // Volumes that cannot be served (an unreadable or inconsistent config, missing or resized
    // data): set aside for an operator, the name is free, and every other volume is served.
    uint64_t volumes_quarantined = 0;
  };
  const Recovery& recovery() const { return recovery_; }

 protected:
  explicit VolumeRegistry(const VolumeOptions& options);

  // The store's hooks. Each runs without mu_ held.
  // Makes the storage of a new volume (data, then `state`, then its config, so it exists for
  // the next start only once complete) and opens it at `state`'s incarnation. On failure
  // nothing of it is left (AlreadyExists leaves what was there).
  virtual absl::StatusOr<std::shared_ptr<Volume>> CreateStored(const VolumeConfig& config,
                                                               const VolumeState& state) = 0;
  // Removes the storage of `name`, whose volume is closed (no IO in flight). `volume` is the
  // registry's last reference but calls in flight may hold more for a moment.
  virtual absl::Status DeleteStored(const std::string& name, std::shared_ptr<Volume> volume) = 0;
  // Records `state` durably.
  virtual absl::Status WriteState(const std::string& name, const VolumeState& state) = 0;
  // For a name not open here: a volume of the store that nobody serves, opened and served here
  // (Adopt), or why not: NotFound by default; FailedPrecondition naming the owner, with its
  // address as the kOwnerPayload payload.
  virtual absl::StatusOr<std::shared_ptr<Volume>> OpenUnserved(const std::string& name);

  // For a store's opening: the state a stored volume opens at, from its stored state (a new
  // incarnation after an unclean stop; a fresh random one when the stored state cannot be
  // read), recorded durably as not clean before the volume acknowledges anything.
  absl::StatusOr<VolumeState> BeginIncarnation(const std::string& name,
                                               const absl::StatusOr<VolumeState>& stored)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Serves `volume` under `name` (a store's opening).
  void Adopt(const std::string& name, std::shared_ptr<Volume> volume) ABSL_LOCKS_EXCLUDED(mu_);
  // The volume served here under `name`, or null.
  std::shared_ptr<Volume> Served(const std::string& name) const ABSL_LOCKS_EXCLUDED(mu_);

  const VolumeOptions& options() const { return options_; }
  // Shared by every volume: --cache_bytes bounds the server's page memory, not each volume's.
  MemoryBudget* budget() const { return budget_.get(); }

  Recovery recovery_;  // set while opening, constant afterwards

 private:
  const VolumeOptions options_;
  const std::unique_ptr<MemoryBudget> budget_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Volume>> volumes_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::set<std::string> creating_ ABSL_GUARDED_BY(mu_);  // names Create has reserved
  std::string advertised_address_ ABSL_GUARDED_BY(mu_);
  absl::BitGen gen_ ABSL_GUARDED_BY(mu_);  // first incarnations
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_VOLUME_VOLUME_REGISTRY_H_
