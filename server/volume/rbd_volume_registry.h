#ifndef BLOCKSTORE_SERVER_VOLUME_RBD_VOLUME_REGISTRY_H_
#define BLOCKSTORE_SERVER_VOLUME_RBD_VOLUME_REGISTRY_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/io/rbd_backend.h"
#include "server/io/rbd_image.h"
#include "server/volume/volume_registry.h"

namespace blockstore {

// The volumes of one Ceph RBD pool (--store=rbd; docs/scale-out.md). A volume is an RBD image of
// the same name, created with the exclusive-lock feature. Its VolumeConfig and VolumeState are
// the image's metadata (`blockstore.config`, `blockstore.state`), so any blockstored pointed at
// the pool finds every volume. Create makes the image as `.creating.<name>` (no volume name
// starts with a dot), sets its state and config, and renames it to `<name>`, so a volume appears
// whole or not at all; Delete removes the config first, as the .conf file is in a data
// directory. What a crash leaves, an image under a creating name or one with a state but no
// config, is removed at open. Images without either key are not blockstore's and are left alone.
//
// Each volume has its own RbdBackend (librbd's cache off: the page cache above is the cache) and
// holds its image's exclusive lock while this server serves it (RbdImage::AcquireExclusiveLock),
// and publishes its address (--advertise_address) as the image's `blockstore.owner`. A second
// server finds the image locked and does not serve it: Get answers FAILED_PRECONDITION naming the
// owner's address (also as kOwnerPayload). A volume nobody holds (created by another server, or
// released by one that stopped) is opened by the first server asked for it.
//
// Failover: a lock holder that no longer watches its image (its watch ended
// osd_client_watch_timeout after it died or lost the cluster) is gone. Taking the lock then
// fences it: librbd's lock acquisition blocklists such an owner and breaks its lock
// (rbd_blocklist_on_break_lock, on by default), and FenceDeadOwner does the same when librbd
// refused instead (blocklist, wait until the OSDs know, break). The volume is served at a new
// incarnation, since its owner did not stop cleanly: what was flushed is there, and a cursor
// from before reports the loss once. A holder that was only partitioned away stays fenced: its
// writes fail, it can never write again.
//
// Thread-safe.
class RbdVolumeRegistry final : public VolumeRegistry {
 public:
  // Connects to the pool and opens every blockstore volume in it whose lock it can take.
  static absl::StatusOr<std::unique_ptr<VolumeRegistry>> Open(const RbdPoolOptions& pool,
                                                              const VolumeOptions& options);

  std::string Describe() const override;
  StoreStats store_stats() const override;

 private:
  RbdVolumeRegistry(std::shared_ptr<RbdPool> pool, const VolumeOptions& options)
      : VolumeRegistry(options), pool_(std::move(pool)) {}

  // Opens image `name` (locked, `config` read) as a served volume. FailedPrecondition when
  // another server holds its lock.
  absl::Status OpenExisting(const std::string& name, std::shared_ptr<RbdImage> image,
                            const VolumeConfig& config);
  // The volume over `image`, its own backend kept alive as long as the volume is.
  absl::StatusOr<std::shared_ptr<Volume>> StartVolume(std::shared_ptr<RbdImage> image,
                                                      const VolumeConfig& config,
                                                      uint32_t incarnation);

  absl::StatusOr<std::shared_ptr<Volume>> CreateStored(const VolumeConfig& config,
                                                       const VolumeState& state) override;
  absl::Status DeleteStored(const std::string& name, std::shared_ptr<Volume> volume) override;
  absl::Status WriteState(const std::string& name, const VolumeState& state) override;
  absl::StatusOr<std::shared_ptr<Volume>> OpenUnserved(const std::string& name) override;
  void SetAdvertisedAddress(const std::string& address) override;
  // Removes image `image_name`, what a crash left of a Create or a Delete, once it can take its
  // lock (fencing a dead holder). Unavailable ("retry") while a live server holds it or Ceph
  // still counts a watcher.
  absl::Status RemoveLeftover(const std::string& image_name);
  // Whether image `name` has a state but no config: what a crash left of a Delete.
  bool IsDeleteLeftover(const std::string& name);
  // Whether no image is called `name` (yet a rename to it said AlreadyExists): what a crash
  // left of a Create's rename, the name's id object without its directory entry.
  bool IsRenameLeftover(const std::string& name);
  // Removes `name`'s id object alone, and returns true, if it names an image the directory
  // lists under another name: what a rename away from `name` leaves when it is cut short after
  // its directory update (librbd writes the new name's id object, updates the directory, then
  // removes the old name's, and ignores a failure of that last step). False, nothing removed,
  // for any other state. Removing `name` as an image instead would trim the renamed image.
  absl::StatusOr<bool> RemoveIfRenamedAway(const std::string& name);
  // Publishes this server as `image`'s owner, when its address is known.
  absl::Status PublishOwner(RbdImage& image);
  // Why `image` cannot be served here: FailedPrecondition naming its owner.
  absl::Status HeldElsewhere(const std::string& name, RbdImage& image);
  // If `image`'s lock holder is gone (not watching), fences it and breaks its lock: OK when the
  // lock is free to take now; FailedPrecondition (HeldElsewhere) when the holder is alive.
  absl::Status FenceDeadOwner(const std::string& name, RbdImage& image);

  std::shared_ptr<RbdImage> ImageOf(const std::string& name) const ABSL_LOCKS_EXCLUDED(mu_);

  const std::shared_ptr<RbdPool> pool_;
  mutable absl::Mutex mu_;
  // The images of the volumes served here (for their state metadata).
  std::map<std::string, std::shared_ptr<RbdImage>> images_ ABSL_GUARDED_BY(mu_);
  // One OpenUnserved at a time: two opening one image would fight over its lock.
  absl::Mutex open_mu_;
  std::atomic<uint64_t> locks_acquired_{0};
  std::atomic<uint64_t> failovers_{0};
  // Shared with the backends (their on_fenced), which may outlive the registry by a moment.
  const std::shared_ptr<std::atomic<uint64_t>> locks_lost_ =
      std::make_shared<std::atomic<uint64_t>>(0);
};

// The image metadata keys of a volume.
constexpr char kRbdConfigKey[] = "blockstore.config";
constexpr char kRbdStateKey[] = "blockstore.state";
constexpr char kRbdOwnerKey[] = "blockstore.owner";

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_VOLUME_RBD_VOLUME_REGISTRY_H_
