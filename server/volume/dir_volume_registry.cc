#include "server/volume/dir_volume_registry.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
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

absl::StatusOr<std::unique_ptr<VolumeRegistry>> VolumeRegistry::Open(const std::string& data_dir,
                                                                     const VolumeOptions& options,
                                                                     IoBackend* backend) {
  return DirVolumeRegistry::Open(data_dir, options, backend);
}

absl::StatusOr<std::unique_ptr<VolumeRegistry>> DirVolumeRegistry::Open(
    const std::string& data_dir, const VolumeOptions& options, IoBackend* backend) {
  RETURN_IF_ERROR(MakeDirs(data_dir));
  std::unique_ptr<DirVolumeRegistry> registry(new DirVolumeRegistry(data_dir, options, backend));
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
  return std::unique_ptr<VolumeRegistry>(std::move(registry));
}

absl::Status DirVolumeRegistry::OpenExisting(const std::string& name) {
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
  ASSIGN_OR_RETURN(const VolumeState state,
                   BeginIncarnation(name, ReadVolumeState(StatePath(name))));
  ASSIGN_OR_RETURN(std::unique_ptr<Volume> volume,
                   OpenVolume(DataPath(name), *config, options(), backend_, budget(),
                              /*create=*/false, state.incarnation));
  LOG(INFO) << "volume " << name << " opened: " << config->size_bytes << " bytes, page "
            << config->page_size_bytes << ", block " << config->block_size_bytes << ", incarnation "
            << state.incarnation;
  Adopt(name, std::shared_ptr<Volume>(std::move(volume)));
  return absl::OkStatus();
}

void DirVolumeRegistry::Quarantine(const std::string& name) {
  const std::string stamp = absl::StrCat(".quarantined-", absl::ToUnixSeconds(absl::Now()));
  for (const std::string& path : {ConfigPath(name), DataPath(name), StatePath(name)}) {
    if (::rename(path.c_str(), (path + stamp).c_str()) != 0 && errno != ENOENT) {
      LOG(ERROR) << "cannot set " << path << " aside: " << std::strerror(errno);
    }
  }
}

std::string DirVolumeRegistry::DataPath(const std::string& name) const {
  return absl::StrCat(data_dir_, "/", name, kDataSuffix);
}

std::string DirVolumeRegistry::ConfigPath(const std::string& name) const {
  return absl::StrCat(data_dir_, "/", name, kConfigSuffix);
}

std::string DirVolumeRegistry::StatePath(const std::string& name) const {
  return absl::StrCat(data_dir_, "/", name, kStateSuffix);
}

absl::StatusOr<std::shared_ptr<Volume>> DirVolumeRegistry::CreateStored(const VolumeConfig& config,
                                                                        const VolumeState& state) {
  // Data first, then its state, config last: a volume exists once its config is durable.
  absl::StatusOr<std::unique_ptr<Volume>> opened =
      OpenVolume(DataPath(config.name), config, options(), backend_, budget(),
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
  absl::Status status = WriteState(config.name, state);
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
            << (options().thin ? ", thin" : ", space reserved");
  return std::shared_ptr<Volume>(std::move(volume));
}

absl::Status DirVolumeRegistry::DeleteStored(const std::string& name,
                                             std::shared_ptr<Volume> volume) {
  // The config first: once it is gone the volume is gone, and a crash before the other
  // unlinks leaves files that the next start removes.
  if (::unlink(ConfigPath(name).c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "unlink", ConfigPath(name));
  }
  if (::unlink(StatePath(name).c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "unlink", StatePath(name));
  }
  if (::unlink(DataPath(name).c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "unlink", DataPath(name));
  }
  return FsyncPath(data_dir_, true);
}

absl::Status DirVolumeRegistry::WriteState(const std::string& name, const VolumeState& state) {
  return WriteVolumeState(data_dir_, StatePath(name), state);
}

}  // namespace blockstore
