#include "server/integration/fault_routing_backend.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace blockstore {
namespace {

std::vector<std::string> VolumeFiles(const std::vector<std::string>& volumes) {
  std::vector<std::string> files;
  for (const std::string& volume : volumes) files.push_back(volume + ".vol");
  return files;
}

}  // namespace

FaultRoutingBackend::FaultRoutingBackend(std::unique_ptr<IoBackend> real,
                                         const FaultSchedule& schedule)
    : real_(std::move(real)),
      faulty_(NewScheduledFaultyIoBackend(real_.get(), schedule)),
      volume_files_(VolumeFiles(schedule.volumes)),
      name_(absl::StrCat("faulty-", real_->Name())) {}

FaultRoutingBackend::~FaultRoutingBackend() { Shutdown(); }

bool FaultRoutingBackend::Faulted(int fd) const {
  if (volume_files_.empty()) return true;
  char target[4096];
  const ssize_t length =
      ::readlink(absl::StrCat("/proc/self/fd/", fd).c_str(), target, sizeof(target) - 1);
  if (length <= 0) return false;
  const absl::string_view path(target, static_cast<size_t>(length));
  const size_t slash = path.rfind('/');
  const absl::string_view file = slash == absl::string_view::npos ? path : path.substr(slash + 1);
  return std::find(volume_files_.begin(), volume_files_.end(), file) != volume_files_.end();
}

absl::Status FaultRoutingBackend::Submit(IoRequest* request) {
  return Faulted(request->fd) ? faulty_->Submit(request) : real_->Submit(request);
}

void FaultRoutingBackend::Shutdown() { faulty_->Shutdown(); }

}  // namespace blockstore
