#include "server/volume/volume_registry.h"

#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "glog/logging.h"
#include "server/cache/chunk_pool.h"
#include "server/cache/memory_budget.h"
#include "server/cache/page_arena.h"
#include "server/common/annotated_mutex_lock.h"
#include "server/common/status_macros.h"

namespace blockstore {

VolumeRegistry::VolumeRegistry(const VolumeOptions& options)
    : options_(options),
      budget_(std::make_unique<MemoryBudget>(
          options.cache_bytes,
          options.prefault_cache
              ? std::make_unique<ChunkPool>(options.cache_bytes, PageArena::kChunkBytes)
              : nullptr)) {
  if (ChunkPool* pool = budget_->chunk_pool(); pool != nullptr) {
    LOG(INFO) << "page cache: " << pool->chunks_mapped() << " chunks of "
              << pool->chunk_bytes() / 1024 << " KiB prefaulted in "
              << absl::FormatDuration(pool->prefault_time());
  }
}

VolumeRegistry::~VolumeRegistry() {
  std::map<std::string, std::shared_ptr<Volume>> volumes;
  {
    AnnotatedMutexLock lock(&mu_);
    volumes.swap(volumes_);
  }
  for (auto& entry : volumes) entry.second->Close();
}

absl::StatusOr<std::shared_ptr<Volume>> VolumeRegistry::OpenUnserved(const std::string& name) {
  return absl::NotFoundError(absl::StrCat("volume: ", name, " does not exist"));
}

void VolumeRegistry::SetAdvertisedAddress(const std::string& address) {
  AnnotatedMutexLock lock(&mu_);
  advertised_address_ = address;
}

std::string VolumeRegistry::advertised_address() const {
  AnnotatedMutexLock lock(&mu_);
  return advertised_address_;
}

absl::StatusOr<VolumeRegistry::Location> VolumeRegistry::Locate(const std::string& name) {
  absl::StatusOr<std::shared_ptr<Volume>> volume = Get(name);
  if (volume.ok()) return Location{advertised_address(), true};
  if (absl::IsFailedPrecondition(volume.status())) {
    if (absl::optional<absl::Cord> owner = volume.status().GetPayload(kOwnerPayload)) {
      return Location{std::string(*owner), false};
    }
  }
  return volume.status();
}

absl::StatusOr<VolumeState> VolumeRegistry::BeginIncarnation(
    const std::string& name, const absl::StatusOr<VolumeState>& stored) {
  VolumeState state;
  if (!stored.ok()) {
    // Which incarnation served last is unknown: a new random one, so no older cursor matches.
    LOG(ERROR) << "volume " << name << ": " << stored.status() << "; starting a new incarnation";
    AnnotatedMutexLock lock(&mu_);
    state.incarnation = FirstIncarnation(gen_);
  } else if (!stored->clean) {
    state.incarnation = NextIncarnation(stored->incarnation);
    LOG(WARNING) << "volume " << name << " did not stop cleanly (incarnation "
                 << stored->incarnation << "): writes acknowledged but not flushed may be lost; "
                 << "now incarnation " << state.incarnation
                 << ", older error cursors get DATA_LOSS once";
  } else {
    state.incarnation = stored->incarnation;
  }
  // Not clean from now until an OK shutdown flush says otherwise, and durably so before the
  // volume acknowledges anything.
  state.clean = false;
  RETURN_IF_ERROR(WriteState(name, state));
  return state;
}

std::shared_ptr<Volume> VolumeRegistry::Served(const std::string& name) const {
  AnnotatedMutexLock lock(&mu_);
  auto it = volumes_.find(name);
  return it == volumes_.end() ? nullptr : it->second;
}

void VolumeRegistry::Adopt(const std::string& name, std::shared_ptr<Volume> volume) {
  AnnotatedMutexLock lock(&mu_);
  volumes_.emplace(name, std::move(volume));
}

absl::StatusOr<std::shared_ptr<Volume>> VolumeRegistry::Create(const VolumeConfig& config) {
  RETURN_IF_ERROR(ValidateVolumeConfig(config));
  VolumeState state;
  state.clean = false;
  {
    // The name is reserved here; the store works without the lock, so a slow disk or cluster
    // (fsyncs, reserving the volume's space) stalls no other call.
    AnnotatedMutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("server is shutting down");
    if (volumes_.count(config.name) != 0 || creating_.count(config.name) != 0) {
      return absl::AlreadyExistsError(absl::StrCat("name: volume ", config.name, " exists"));
    }
    if (volumes_.size() + creating_.size() >= options_.max_volumes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the server holds its maximum of ", options_.max_volumes,
                       " volumes (--max_volumes); delete one first"));
    }
    creating_.insert(config.name);
    state.incarnation = FirstIncarnation(gen_);
  }
  absl::StatusOr<std::shared_ptr<Volume>> created = CreateStored(config, state);
  AnnotatedMutexLock lock(&mu_);
  creating_.erase(config.name);
  if (!created.ok()) return created.status();
  if (stopping_) {
    // Shutdown began meanwhile and did not see this volume: it takes no writes either, and
    // holds none, so it is as clean as its state will say.
    (*created)->StopAcceptingWrites();
  }
  volumes_.emplace(config.name, *created);
  return created;
}

absl::Status VolumeRegistry::Delete(const std::string& name) {
  std::shared_ptr<Volume> volume;
  {
    AnnotatedMutexLock lock(&mu_);
    auto it = volumes_.find(name);
    if (it == volumes_.end()) {
      return absl::NotFoundError(absl::StrCat("volume: ", name, " does not exist"));
    }
    volume = it->second;
    volumes_.erase(it);
  }
  // R27: no IO may be in flight when the data goes.
  volume->Close();
  RETURN_IF_ERROR(DeleteStored(name, std::move(volume)));
  LOG(INFO) << "volume " << name << " deleted";
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Volume>> VolumeRegistry::Get(const std::string& name) {
  {
    AnnotatedMutexLock lock(&mu_);
    auto it = volumes_.find(name);
    if (it != volumes_.end()) return it->second;
    // Not while shutting down, nor for a name being created here.
    if (stopping_ || creating_.count(name) != 0) {
      return absl::NotFoundError(absl::StrCat("volume: ", name, " does not exist"));
    }
  }
  return OpenUnserved(name);
}

std::vector<std::shared_ptr<Volume>> VolumeRegistry::List() const {
  std::vector<std::shared_ptr<Volume>> volumes;
  AnnotatedMutexLock lock(&mu_);
  for (const auto& entry : volumes_) volumes.push_back(entry.second);
  return volumes;
}

absl::Status VolumeRegistry::StopAndFlushAll(std::vector<std::string>* failures) {
  {
    AnnotatedMutexLock lock(&mu_);
    stopping_ = true;
  }
  std::vector<std::shared_ptr<Volume>> volumes = List();
  for (auto& volume : volumes) volume->StopAcceptingWrites();
  absl::Status first_error;
  for (auto& volume : volumes) {
    std::vector<PageResult> pages;
    FlushSummary summary = volume->FlushSync(absl::nullopt, &pages);
    if (summary.status.ok()) {
      LOG(INFO) << "volume " << volume->config().name << ": flushed " << summary.pages_written
                << " pages at shutdown";
      // Every write it acknowledged is durable, and it takes no more: the next open may keep
      // this incarnation, and cursors stay valid across the restart.
      VolumeState state;
      state.incarnation = volume->incarnation();
      state.clean = true;
      const absl::Status status = WriteState(volume->config().name, state);
      if (status.ok()) continue;
      summary.status = status;
      LOG(ERROR) << "volume " << volume->config().name
                 << ": could not record the clean stop: " << status;
    }
    for (const PageResult& page : pages) {
      if (!page.status.ok()) {
        LOG(ERROR) << "volume " << volume->config().name << ": page " << page.page_index
                   << " could not be written at shutdown: " << page.status;
      }
    }
    const std::string line =
        absl::StrCat("volume ", volume->config().name, ": ", summary.pages_failed,
                     " pages lost: ", summary.status.ToString());
    LOG(ERROR) << line;
    if (failures != nullptr) failures->push_back(line);
    if (first_error.ok()) first_error = summary.status;
  }
  return first_error;
}

}  // namespace blockstore
