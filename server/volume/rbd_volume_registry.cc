#include "server/volume/rbd_volume_registry.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "server/common/status_macros.h"
#include "server/volume/volume_config.h"
#include "server/volume/volume_state.h"

namespace blockstore {
namespace {

// How long Delete waits for calls still holding the closed volume (they end at once with
// UNAVAILABLE) before it gives up on removing the image: librbd refuses to remove an image
// that is still open.
constexpr absl::Duration kDeleteDrainWait = absl::Seconds(10);

// CreateVolume makes the image under a name no volume can have (volume names start with a
// letter or a digit), sets its state and config there, and renames it: the volume appears whole
// or not at all. An image under such a name is what a crash left of a Create.
constexpr absl::string_view kCreatingPrefix = ".creating.";

std::string CreatingName(absl::string_view name) { return absl::StrCat(kCreatingPrefix, name); }

}  // namespace

absl::StatusOr<std::unique_ptr<VolumeRegistry>> RbdVolumeRegistry::Open(
    const RbdPoolOptions& pool_options, const VolumeOptions& options) {
  ASSIGN_OR_RETURN(std::shared_ptr<RbdPool> pool, RbdPool::Connect(pool_options));
  std::unique_ptr<RbdVolumeRegistry> registry(new RbdVolumeRegistry(pool, options));
  ASSIGN_OR_RETURN(std::vector<std::string> names, pool->ListImages());
  // What crashes left, removed once the volumes are open: opening them fenced a killed
  // predecessor, whose locks and watches would otherwise keep its leftovers in place.
  std::vector<std::string> leftovers;
  for (const std::string& name : names) {
    if (absl::StartsWith(name, kCreatingPrefix)) {
      leftovers.push_back(name);
      continue;
    }
    absl::StatusOr<std::unique_ptr<RbdImage>> opened = pool->OpenImage(name);
    if (!opened.ok()) {
      // Removed meanwhile by another server, or damaged: not ours to judge.
      LOG(WARNING) << "RBD image " << name << " cannot be opened: " << opened.status();
      continue;
    }
    std::shared_ptr<RbdImage> image = *std::move(opened);
    absl::StatusOr<std::string> config_text = image->GetMetadata(kRbdConfigKey);
    if (absl::IsNotFound(config_text.status())) {
      // A state without a config: a DeleteVolume that a crash cut short (every client was
      // told the volume is gone, or nobody was told anything). Neither: not blockstore's.
      if (image->GetMetadata(kRbdStateKey).ok()) leftovers.push_back(name);
      continue;
    }
    absl::Status status = config_text.status();
    absl::StatusOr<VolumeConfig> config = absl::UnknownError("unread");
    if (status.ok()) {
      config = ParseVolumeConfig(*config_text);
      status = config.status();
      if (status.ok() && config->name != name) {
        status = absl::DataLossError(
            absl::StrCat("its config names volume ", config->name, ", not ", name));
      }
    }
    if (status.ok()) status = registry->OpenExisting(name, std::move(image), *config);
    if (absl::IsFailedPrecondition(status)) {
      LOG(INFO) << "volume " << name << " is not served here: " << status.message();
      continue;
    }
    if (absl::IsResourceExhausted(status) || absl::IsUnavailable(status)) {
      // The server or the cluster, not the volume, is short: refuse to start rather than
      // look as if the volume were gone.
      return absl::Status(status.code(),
                          absl::StrCat("cannot open volume ", name, ": ", status.message()));
    }
    if (!status.ok()) {
      // Its image stays as it is for an operator; the other volumes are served.
      LOG(ERROR) << "volume " << name << " cannot be served: " << status;
      ++registry->recovery_.volumes_quarantined;
    }
  }
  for (const std::string& name : leftovers) {
    const absl::Status removed = registry->RemoveLeftover(name);
    if (removed.ok()) {
      LOG(WARNING) << "removed RBD image " << name << ": what a crash left of a "
                   << (absl::StartsWith(name, kCreatingPrefix) ? "CreateVolume" : "DeleteVolume");
      ++registry->recovery_.leftovers_removed;
    } else {
      LOG(WARNING) << "RBD image " << name << ", left by a crash, stays for now: " << removed;
    }
  }
  return std::unique_ptr<VolumeRegistry>(std::move(registry));
}

VolumeRegistry::StoreStats RbdVolumeRegistry::store_stats() const {
  StoreStats stats;
  stats.store = "rbd";
  stats.locks_acquired = locks_acquired_.load(std::memory_order_relaxed);
  stats.failovers = failovers_.load(std::memory_order_relaxed);
  stats.locks_lost = locks_lost_->load(std::memory_order_relaxed);
  return stats;
}

std::string RbdVolumeRegistry::Describe() const {
  return absl::StrCat("rbd pool ", pool_->pool_name());
}

absl::Status RbdVolumeRegistry::OpenExisting(const std::string& name,
                                             std::shared_ptr<RbdImage> image,
                                             const VolumeConfig& config) {
  absl::Status locked = image->AcquireExclusiveLock();
  if (!locked.ok()) {
    RETURN_IF_ERROR(FenceDeadOwner(name, *image));
    locked = image->AcquireExclusiveLock();
    if (!locked.ok()) {
      const absl::Status elsewhere = HeldElsewhere(name, *image);
      return absl::IsFailedPrecondition(elsewhere) ? elsewhere : locked;
    }
  }
  locks_acquired_.fetch_add(1, std::memory_order_relaxed);
  RETURN_IF_ERROR(PublishOwner(*image));
  ASSIGN_OR_RETURN(const uint64_t size_bytes, image->SizeBytes());
  if (size_bytes != config.size_bytes) {
    return absl::DataLossError(absl::StrCat("RBD image ", name, " is ", size_bytes,
                                            " bytes, its config says ", config.size_bytes));
  }
  absl::StatusOr<std::string> state_text = image->GetMetadata(kRbdStateKey);
  absl::StatusOr<VolumeState> stored = state_text.ok()
                                           ? ParseVolumeState(*state_text)
                                           : absl::StatusOr<VolumeState>(state_text.status());
  // An owner that did not stop cleanly (it died, or was cut off and fenced): a failover.
  if (stored.ok() && !stored->clean) failovers_.fetch_add(1, std::memory_order_relaxed);
  {
    absl::MutexLock lock(&mu_);
    images_[name] = image;
  }
  absl::StatusOr<VolumeState> state = BeginIncarnation(name, stored);
  absl::StatusOr<std::shared_ptr<Volume>> volume =
      state.ok() ? StartVolume(image, config, state->incarnation)
                 : absl::StatusOr<std::shared_ptr<Volume>>(state.status());
  if (!volume.ok()) {
    absl::MutexLock lock(&mu_);
    images_.erase(name);
    return volume.status();
  }
  LOG(INFO) << "volume " << name << " opened from " << Describe() << ": " << config.size_bytes
            << " bytes, page " << config.page_size_bytes << ", block " << config.block_size_bytes
            << ", incarnation " << state->incarnation;
  Adopt(name, *std::move(volume));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Volume>> RbdVolumeRegistry::StartVolume(
    std::shared_ptr<RbdImage> image, const VolumeConfig& config, uint32_t incarnation) {
  RbdBackend::Options backend_options;
  backend_options.on_fenced = [locks_lost = locks_lost_, name = config.name] {
    locks_lost->fetch_add(1, std::memory_order_relaxed);
    LOG(ERROR) << "volume " << name << ": this server has lost it (fenced: blocklisted, or "
               << "another server took its lock); its writes fail FAILED_PRECONDITION";
  };
  ASSIGN_OR_RETURN(std::unique_ptr<RbdBackend> owned,
                   RbdBackend::Create(std::move(image), backend_options));
  std::shared_ptr<RbdBackend> backend(std::move(owned));
  // librbd copies a write's bytes as it takes it (RbdBackend: IoRequest::DataTaken), so a copy
  // of our own would be a second one.
  VolumeOptions volume_options = options();
  volume_options.bounce_max_bytes = 0;
  ASSIGN_OR_RETURN(std::unique_ptr<Volume> volume,
                   OpenVolumeOnDevice(/*device_fd=*/-1, config, volume_options, backend.get(),
                                      budget(), incarnation));
  // The backend lives as long as the volume: a call that raced Close may still reach it, and
  // then finds it shut down rather than freed.
  return std::shared_ptr<Volume>(volume.release(), [backend](Volume* v) {
    delete v;
    backend->Shutdown();
  });
}

bool RbdVolumeRegistry::IsDeleteLeftover(const std::string& name) {
  absl::StatusOr<std::unique_ptr<RbdImage>> image = pool_->OpenImage(name);
  return image.ok() && absl::IsNotFound((*image)->GetMetadata(kRbdConfigKey).status()) &&
         (*image)->GetMetadata(kRbdStateKey).ok();
}

bool RbdVolumeRegistry::IsRenameLeftover(const std::string& name) {
  absl::StatusOr<std::vector<std::string>> images = pool_->ListImages();
  return images.ok() && !std::binary_search(images->begin(), images->end(), name);
}

absl::StatusOr<bool> RbdVolumeRegistry::RemoveIfRenamedAway(const std::string& name) {
  absl::StatusOr<std::string> id = pool_->ResolveImageId(name);
  if (absl::IsNotFound(id.status())) return false;
  RETURN_IF_ERROR(id.status());
  ASSIGN_OR_RETURN(const std::vector<RbdPool::ListedImage> listed, pool_->ListImagesWithIds());
  for (const RbdPool::ListedImage& image : listed) {
    if (image.id != *id) continue;
    if (image.name == name) return false;
    LOG(WARNING) << "RBD image name " << name << " still named image " << image.name
                 << " after a rename; freeing it";
    // Only if it still names that image: another server may have freed the name and made a
    // new image under it since the read above. One window stays: if the rename that left the
    // object is still running (between its directory update and its own removal of the
    // object), its removal may come after another server's new image under the name and take
    // that image's id object; that server's CreateVolume then fails UNAVAILABLE ("retry"), and
    // the directory may keep a creating-name entry without its id object (no volume; whether
    // rbd_remove can clean it is not tested).
    RETURN_IF_ERROR(pool_->RemoveImageIdIf(name, *id));
    return true;
  }
  return false;
}

absl::Status RbdVolumeRegistry::RemoveLeftover(const std::string& image_name) {
  absl::StatusOr<std::unique_ptr<RbdImage>> opened = pool_->OpenImage(image_name);
  if (absl::IsNotFound(opened.status())) {
    // Gone, or half made (a create cut off before the image's header): rbd_remove cleans that.
    const absl::Status removed = pool_->RemoveImage(image_name);
    return absl::IsNotFound(removed) ? absl::OkStatus() : removed;
  }
  if (!opened.ok()) return opened.status();
  std::unique_ptr<RbdImage> image = *std::move(opened);
  // Taking the lock fences a dead holder (a killed server that was creating or deleting it),
  // which also ends its watch; a live holder is still working on the image.
  absl::Status locked = image->AcquireExclusiveLock();
  if (!locked.ok()) {
    const absl::Status fenced = FenceDeadOwner(image_name, *image);
    locked = fenced.ok() ? image->AcquireExclusiveLock() : fenced;
  }
  image.reset();
  if (!locked.ok()) {
    return absl::UnavailableError(absl::StrCat("RBD image ", image_name,
                                               " is being worked on by another blockstored (",
                                               locked.message(), "); retry"));
  }
  // Whoever held the image (if anyone) is fenced or was never there, and its work on the name
  // has stopped; its last act may have been a rename away from the name (the directory updated
  // after the caller looked), which leaves the name's id object naming the renamed image.
  ASSIGN_OR_RETURN(const bool freed, RemoveIfRenamedAway(image_name));
  if (freed) return absl::OkStatus();
  const absl::Status removed = pool_->RemoveImage(image_name);
  if (absl::IsFailedPrecondition(removed)) {
    return absl::UnavailableError(absl::StrCat(removed.message(), "; retry"));
  }
  return removed;
}

absl::StatusOr<std::shared_ptr<Volume>> RbdVolumeRegistry::CreateStored(const VolumeConfig& config,
                                                                        const VolumeState& state) {
  // 1. The image under its creating name, opened and locked here until it is served: no other
  // server can take it for a leftover meanwhile (RemoveLeftover needs the lock).
  const std::string creating = CreatingName(config.name);
  absl::Status status = pool_->CreateImage(creating, config.size_bytes);
  if (absl::IsAlreadyExists(status)) {
    // Left by a server that died creating this volume (removed), or another creating it now.
    // Or only the creating name's id object, left by a rename to the volume's name: that
    // object names the volume's own image, so it alone goes (removing the creating name as an
    // image would trim the volume's data).
    ASSIGN_OR_RETURN(const bool freed, RemoveIfRenamedAway(creating));
    if (!freed) RETURN_IF_ERROR(RemoveLeftover(creating));
    status = pool_->CreateImage(creating, config.size_bytes);
  }
  RETURN_IF_ERROR(status);
  std::shared_ptr<RbdImage> image;
  {
    absl::StatusOr<std::unique_ptr<RbdImage>> opened = pool_->OpenImage(creating);
    if (opened.ok()) image = *std::move(opened);
    status = opened.status();
  }
  if (status.ok()) status = image->AcquireExclusiveLock();
  if (status.ok()) {
    locks_acquired_.fetch_add(1, std::memory_order_relaxed);
    status = image->SetMetadata(kRbdStateKey, SerializeVolumeState(state));
  }
  if (status.ok()) status = image->SetMetadata(kRbdConfigKey, SerializeVolumeConfig(config));
  if (status.ok()) status = PublishOwner(*image);
  // 2. The rename: from here on the volume exists, for every server on the pool. The open
  // image follows it, still locked.
  if (status.ok()) {
    status = pool_->RenameImage(creating, config.name, image.get());
    if (absl::IsAlreadyExists(status) && IsDeleteLeftover(config.name)) {
      // What a crash left of a DeleteVolume of this name (not removed at open while the dead
      // server's lock or watch stood): removed now.
      status = RemoveLeftover(config.name);
      if (status.ok()) status = pool_->RenameImage(creating, config.name, image.get());
    } else if (absl::IsAlreadyExists(status) && IsRenameLeftover(config.name)) {
      // What a crash left of an earlier CreateVolume's rename (found by the crash harness:
      // the name was neither a volume nor free): librbd had written the name's id object and
      // not yet the directory. This server holds the name's creating image, so no other rename
      // to the name is under way: the id object is a leftover, removed now.
      LOG(WARNING) << "RBD image name " << config.name
                   << " was taken by what a crash left of a rename; freeing it";
      status = pool_->RemoveStrayImageId(config.name);
      if (status.ok()) status = pool_->RenameImage(creating, config.name, image.get());
    }
    if (absl::IsAlreadyExists(status)) {
      status = absl::AlreadyExistsError(absl::StrCat("volume: ", config.name, " already exists"));
    }
  }
  if (!status.ok()) {
    // Nobody but this server had the creating image (it held the lock): removed again. Unless
    // the rename failed after its directory update (a timeout): the volume then exists, and
    // only the creating name's id object goes.
    image.reset();
    absl::StatusOr<bool> freed = RemoveIfRenamedAway(creating);
    const absl::Status removed = !freed.ok() ? freed.status()
                                 : *freed    ? absl::OkStatus()
                                             : pool_->RemoveImage(creating);
    if (!removed.ok() && !absl::IsNotFound(removed)) {
      LOG(ERROR) << "RBD image " << creating << " of a failed CreateVolume stays: " << removed;
    }
    if (freed.ok() && *freed) {
      // The rename failed after its directory update: the volume exists, whole, and is served
      // by whichever server opens it first (this one let it go above).
      return absl::UnavailableError(
          absl::StrCat("volume: ", config.name, " was created, but its rename reported (",
                       status.message(), "); it exists now (GetVolumeInfo finds it)"));
    }
    if (absl::IsNotFound(status) || absl::IsFailedPrecondition(status)) {
      // The image went or its lock moved under us: another server's cleanup raced this one.
      return absl::UnavailableError(absl::StrCat("volume: ", config.name, " could not be created (",
                                                 status.message(), "); retry"));
    }
    return status;
  }

  // 3. Served here. Nobody has been told the volume exists, so a failure removes it again.
  {
    absl::MutexLock lock(&mu_);
    images_[config.name] = image;
  }
  absl::StatusOr<std::shared_ptr<Volume>> volume = StartVolume(image, config, state.incarnation);
  if (!volume.ok()) {
    {
      absl::MutexLock lock(&mu_);
      images_.erase(config.name);
    }
    image.reset();
    const absl::Status removed = pool_->RemoveImage(config.name);
    if (!removed.ok()) {
      LOG(ERROR) << "RBD image " << config.name << " of a failed CreateVolume stays: " << removed;
    }
    return volume.status();
  }
  LOG(INFO) << "volume " << config.name << " created in " << Describe() << ": " << config.size_bytes
            << " bytes, page " << config.page_size_bytes << ", block " << config.block_size_bytes;
  return volume;
}

absl::Status RbdVolumeRegistry::DeleteStored(const std::string& name,
                                             std::shared_ptr<Volume> volume) {
  std::shared_ptr<RbdImage> image = ImageOf(name);
  // The config first: once it is gone the volume is gone for every server, and a crash before
  // the image is removed leaves an image that the next open removes.
  if (image != nullptr) RETURN_IF_ERROR(image->RemoveMetadata(kRbdConfigKey));
  // librbd removes only a closed image: the volume (whose backend holds the image) must go.
  const absl::Time give_up = absl::Now() + kDeleteDrainWait;
  while (volume.use_count() > 1 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  if (volume.use_count() > 1) {
    return absl::UnavailableError(
        absl::StrCat("volume: ", name,
                     " is gone, but calls still hold it; its RBD image stays until the "
                     "next start removes it"));
  }
  volume.reset();
  image.reset();
  {
    absl::MutexLock lock(&mu_);
    images_.erase(name);
  }
  // Another server may have removed it first, as a leftover (it has no config any more).
  const absl::Status removed = pool_->RemoveImage(name);
  return absl::IsNotFound(removed) ? absl::OkStatus() : removed;
}

absl::Status RbdVolumeRegistry::WriteState(const std::string& name, const VolumeState& state) {
  std::shared_ptr<RbdImage> image = ImageOf(name);
  if (image == nullptr) {
    return absl::InternalError(absl::StrCat("volume ", name, " has no open RBD image"));
  }
  return image->SetMetadata(kRbdStateKey, SerializeVolumeState(state));
}

absl::Status RbdVolumeRegistry::HeldElsewhere(const std::string& name, RbdImage& image) {
  absl::StatusOr<std::vector<std::string>> holders = image.LockOwners();
  if (!holders.ok()) return holders.status();
  if (holders->empty()) {
    return absl::UnavailableError(
        absl::StrCat("volume: ", name, " was just released; retry"));  // a race: rare
  }
  absl::StatusOr<std::string> owner = image.GetMetadata(kRbdOwnerKey);
  absl::Status status = absl::FailedPreconditionError(
      owner.ok() && !owner->empty()
          ? absl::StrCat("volume: ", name, " is served by blockstored at ", *owner)
          : absl::StrCat("volume: ", name, " is served by another blockstored (Ceph client ",
                         absl::StrJoin(*holders, ", "), " holds its lock)"));
  if (owner.ok()) status.SetPayload(kOwnerPayload, absl::Cord(*owner));
  return status;
}

absl::Status RbdVolumeRegistry::FenceDeadOwner(const std::string& name, RbdImage& image) {
  ASSIGN_OR_RETURN(std::vector<std::string> holders, image.LockOwners());
  if (holders.empty()) return absl::OkStatus();  // released meanwhile
  ASSIGN_OR_RETURN(std::vector<std::string> watchers, image.Watchers());
  for (const std::string& holder : holders) {
    if (std::find(watchers.begin(), watchers.end(), holder) != watchers.end()) {
      return HeldElsewhere(name, image);  // alive: it serves the volume
    }
  }
  for (const std::string& holder : holders) {
    LOG(WARNING) << "volume " << name << ": its owner (Ceph client " << holder
                 << ") no longer watches the image; fencing it and taking the volume over";
    // Fenced first, so that an owner that was only partitioned away can never write again
    // once its lock is broken; an hour outlives any op it could still have in flight.
    RETURN_IF_ERROR(pool_->BlocklistClient(holder, absl::Hours(1)));
    RETURN_IF_ERROR(image.BreakLock(holder));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Volume>> RbdVolumeRegistry::OpenUnserved(const std::string& name) {
  const absl::Status not_found =
      absl::NotFoundError(absl::StrCat("volume: ", name, " does not exist"));
  if (!ValidateVolumeName(name).ok()) return not_found;
  absl::MutexLock open_lock(&open_mu_);
  if (std::shared_ptr<Volume> served = Served(name)) return served;  // opened meanwhile
  absl::StatusOr<std::unique_ptr<RbdImage>> opened = pool_->OpenImage(name);
  if (absl::IsNotFound(opened.status())) return not_found;
  if (!opened.ok()) return opened.status();
  std::shared_ptr<RbdImage> image = *std::move(opened);
  absl::StatusOr<std::string> config_text = image->GetMetadata(kRbdConfigKey);
  if (absl::IsNotFound(config_text.status())) return not_found;  // not (or no longer) a volume
  if (!config_text.ok()) return config_text.status();
  absl::StatusOr<VolumeConfig> config = ParseVolumeConfig(*config_text);
  if (!config.ok()) return config.status();
  RETURN_IF_ERROR(OpenExisting(name, std::move(image), *config));
  std::shared_ptr<Volume> served = Served(name);
  if (served == nullptr) return not_found;
  return served;
}

void RbdVolumeRegistry::SetAdvertisedAddress(const std::string& address) {
  VolumeRegistry::SetAdvertisedAddress(address);
  std::map<std::string, std::shared_ptr<RbdImage>> images;
  {
    absl::MutexLock lock(&mu_);
    images = images_;
  }
  for (auto& [name, image] : images) {
    const absl::Status published = PublishOwner(*image);
    if (!published.ok()) LOG(WARNING) << "volume " << name << ": " << published;
  }
}

absl::Status RbdVolumeRegistry::PublishOwner(RbdImage& image) {
  const std::string address = advertised_address();
  if (address.empty()) return absl::OkStatus();  // SetAdvertisedAddress publishes it later
  return image.SetMetadata(kRbdOwnerKey, address);
}

std::shared_ptr<RbdImage> RbdVolumeRegistry::ImageOf(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = images_.find(name);
  return it == images_.end() ? nullptr : it->second;
}

}  // namespace blockstore
