#include "server/volume/volume_registry.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "server/cache/chunk_pool.h"
#include "server/cache/memory_budget.h"
#include "server/cache/page_arena.h"
#include "server/common/annotated_mutex_lock.h"
#include "server/common/io_status.h"
#include "server/common/status_macros.h"
#include "server/volume/volume_file.h"
#include "server/volume/volume_state.h"

namespace blockstore {
namespace {

constexpr absl::string_view kConfigSuffix = ".conf";
constexpr absl::string_view kDataSuffix = ".vol";
constexpr absl::string_view kStateSuffix = ".state";

absl::Status MakeDirs(const std::string& path) {
  std::string partial;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || (path[i] == '/' && i > 0)) {
      partial = path.substr(0, i);
      if (::mkdir(partial.c_str(), 0750) != 0 && errno != EEXIST) {
        return ErrnoStatus(errno, "mkdir", partial);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

VolumeRegistry::VolumeRegistry(std::string data_dir, const VolumeOptions& options,
                               IoBackend* backend)
    : data_dir_(std::move(data_dir)),
      options_(options),
      backend_(backend),
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

absl::StatusOr<std::unique_ptr<VolumeRegistry>> VolumeRegistry::Open(const std::string& data_dir,
                                                                     const VolumeOptions& options,
                                                                     IoBackend* backend) {
  RETURN_IF_ERROR(MakeDirs(data_dir));
  std::unique_ptr<VolumeRegistry> registry(new VolumeRegistry(data_dir, options, backend));
  DIR* dir = ::opendir(data_dir.c_str());
  if (dir == nullptr) return ErrnoStatus(errno, "opendir", data_dir);
  // A volume is its .conf (written last by Create, removed first by Delete); a .vol or .state
  // without one is what a crash left of a Create or a Delete.
  std::set<std::string> names;
  std::set<std::string> configured;
  std::vector<std::string> temp_files;
  while (dirent* entry = ::readdir(dir)) {
    const std::string file = entry->d_name;
    if (absl::EndsWith(file, kTempSuffix)) {
      temp_files.push_back(file);
      continue;
    }
    for (absl::string_view suffix : {kConfigSuffix, kDataSuffix, kStateSuffix}) {
      if (!absl::EndsWith(file, suffix)) continue;
      const std::string name = file.substr(0, file.size() - suffix.size());
      names.insert(name);
      if (suffix == kConfigSuffix) configured.insert(name);
    }
  }
  ::closedir(dir);
  for (const std::string& file : temp_files) {
    // A durable write that a crash cut short; the file it was replacing is intact.
    LOG(WARNING) << "removing " << file << ", a file write a crash cut short";
    ::unlink(absl::StrCat(data_dir, "/", file).c_str());
    ++registry->recovery_.leftovers_removed;
  }
  for (const std::string& name : names) {
    if (configured.count(name) == 0) {
      LOG(WARNING) << "removing the files of " << name
                   << ": a CreateVolume or DeleteVolume that a crash cut short left them";
      ::unlink(registry->DataPath(name).c_str());
      ::unlink(registry->StatePath(name).c_str());
      ++registry->recovery_.leftovers_removed;
      continue;
    }
    const absl::Status status = registry->OpenExisting(name);
    if (absl::IsResourceExhausted(status) || absl::IsUnavailable(status)) {
      // The server, not the volume, is short (of threads, memory or IO): setting a healthy
      // volume aside would free its name for someone else. Refuse to start instead.
      return absl::Status(status.code(),
                          absl::StrCat("cannot open volume ", name, ": ", status.message()));
    }
    if (!status.ok()) {
      // One volume that cannot be served does not stop the others: its files are set aside
      // for an operator, and its name is free again.
      LOG(ERROR) << "volume " << name << " cannot be opened and is quarantined: " << status;
      registry->Quarantine(name);
      ++registry->recovery_.volumes_quarantined;
    }
  }
  if (registry->recovery_.leftovers_removed + registry->recovery_.volumes_quarantined > 0) {
    FsyncPath(data_dir, true).IgnoreError();  // the removals and renames above, best effort
  }
  return registry;
}

absl::Status VolumeRegistry::OpenExisting(const std::string& name) {
  const std::string config_path = ConfigPath(name);
  ASSIGN_OR_RETURN(std::string text, ReadFileText(config_path));
  absl::StatusOr<VolumeConfig> config = ParseVolumeConfig(text);
  if (!config.ok()) {
    return absl::DataLossError(absl::StrCat(config_path, ": ", config.status().message()));
  }
  if (config->name != name) {
    return absl::DataLossError(
        absl::StrCat(config_path, ": names volume ", config->name, ", not ", name));
  }
  const std::string state_path = StatePath(name);
  absl::StatusOr<VolumeState> state = ReadVolumeState(state_path);
  if (!state.ok()) {
    // Which incarnation served last is unknown: a new random one, so no older cursor matches.
    LOG(ERROR) << "volume " << name << ": " << state.status() << "; starting a new incarnation";
    state = VolumeState();
    {
      AnnotatedMutexLock lock(&mu_);
      state->incarnation = FirstIncarnation(gen_);
    }
    state->clean = true;
  } else if (!state->clean) {
    const uint32_t next = NextIncarnation(state->incarnation);
    LOG(WARNING) << "volume " << name << " did not stop cleanly (incarnation " << state->incarnation
                 << "): writes acknowledged but not flushed may be lost; "
                 << "now incarnation " << next << ", older error cursors get DATA_LOSS once";
    state->incarnation = next;
  }
  // Not clean from now until an OK shutdown flush says otherwise, and durably so before the
  // volume acknowledges anything.
  state->clean = false;
  RETURN_IF_ERROR(WriteVolumeState(data_dir_, state_path, *state));
  ASSIGN_OR_RETURN(std::unique_ptr<Volume> volume,
                   OpenVolume(DataPath(name), *config, options_, backend_, budget_.get(),
                              /*create=*/false, state->incarnation));
  LOG(INFO) << "volume " << name << " opened: " << config->size_bytes << " bytes, page "
            << config->page_size_bytes << ", block " << config->block_size_bytes << ", incarnation "
            << state->incarnation;
  AnnotatedMutexLock lock(&mu_);
  volumes_.emplace(name, std::shared_ptr<Volume>(std::move(volume)));
  return absl::OkStatus();
}

void VolumeRegistry::Quarantine(const std::string& name) {
  const std::string stamp = absl::StrCat(".quarantined-", absl::ToUnixSeconds(absl::Now()));
  for (const std::string& path : {ConfigPath(name), DataPath(name), StatePath(name)}) {
    if (::rename(path.c_str(), (path + stamp).c_str()) != 0 && errno != ENOENT) {
      LOG(ERROR) << "cannot set " << path << " aside: " << std::strerror(errno);
    }
  }
}

std::string VolumeRegistry::DataPath(const std::string& name) const {
  return absl::StrCat(data_dir_, "/", name, kDataSuffix);
}

std::string VolumeRegistry::ConfigPath(const std::string& name) const {
  return absl::StrCat(data_dir_, "/", name, kConfigSuffix);
}

std::string VolumeRegistry::StatePath(const std::string& name) const {
  return absl::StrCat(data_dir_, "/", name, kStateSuffix);
}

absl::StatusOr<std::shared_ptr<Volume>> VolumeRegistry::Create(const VolumeConfig& config) {
  RETURN_IF_ERROR(ValidateVolumeConfig(config));
  VolumeState state;
  state.clean = false;
  {
    // The name is reserved here; the files are made without the lock, so a slow disk (fsyncs,
    // reserving the volume's space) stalls no other call.
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
  absl::StatusOr<std::shared_ptr<Volume>> created = CreateFiles(config, state);
  AnnotatedMutexLock lock(&mu_);
  creating_.erase(config.name);
  if (!created.ok()) return created.status();
  if (stopping_) {
    // Shutdown began meanwhile and did not see this volume: it takes no writes either, and
    // holds none, so it is as clean as its state file will say.
    (*created)->StopAcceptingWrites();
  }
  volumes_.emplace(config.name, *created);
  return created;
}

absl::StatusOr<std::shared_ptr<Volume>> VolumeRegistry::CreateFiles(const VolumeConfig& config,
                                                                    const VolumeState& state) {
  // Data first, then its state, config last: a volume exists once its config is durable.
  absl::StatusOr<std::unique_ptr<Volume>> opened =
      OpenVolume(DataPath(config.name), config, options_, backend_, budget_.get(),
                 /*create=*/true, state.incarnation);
  if (!opened.ok()) {
    // The data file may have been created before the volume failed to start (no thread left):
    // take it back, so the name is free and the space not leaked. A file that was there
    // already (AlreadyExists) is not ours to remove.
    if (opened.status().code() != absl::StatusCode::kAlreadyExists) {
      ::unlink(DataPath(config.name).c_str());
    }
    return opened.status();
  }
  std::unique_ptr<Volume> volume = *std::move(opened);
  absl::Status status = WriteVolumeState(data_dir_, StatePath(config.name), state);
  if (status.ok()) {
    status = WriteFileDurably(data_dir_, ConfigPath(config.name), SerializeVolumeConfig(config));
  }
  if (!status.ok()) {
    volume->Close();
    ::unlink(StatePath(config.name).c_str());
    ::unlink(DataPath(config.name).c_str());
    return status;
  }
  LOG(INFO) << "volume " << config.name << " created: " << config.size_bytes << " bytes, page "
            << config.page_size_bytes << ", block " << config.block_size_bytes
            << (options_.thin ? ", thin" : ", space reserved");
  return std::shared_ptr<Volume>(std::move(volume));
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
  // R27: no IO may be in flight when the files go.
  volume->Close();
  if (::unlink(ConfigPath(name).c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "unlink", ConfigPath(name));
  }
  if (::unlink(StatePath(name).c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "unlink", StatePath(name));
  }
  if (::unlink(DataPath(name).c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "unlink", DataPath(name));
  }
  LOG(INFO) << "volume " << name << " deleted";
  return FsyncPath(data_dir_, true);
}

absl::StatusOr<std::shared_ptr<Volume>> VolumeRegistry::Get(const std::string& name) const {
  AnnotatedMutexLock lock(&mu_);
  auto it = volumes_.find(name);
  if (it == volumes_.end()) {
    return absl::NotFoundError(absl::StrCat("volume: ", name, " does not exist"));
  }
  return it->second;
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
      const absl::Status status =
          WriteVolumeState(data_dir_, StatePath(volume->config().name), state);
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
