#ifndef BLOCKSTORE_SERVER_INTEGRATION_FAULT_ROUTING_BACKEND_H_
#define BLOCKSTORE_SERVER_INTEGRATION_FAULT_ROUTING_BACKEND_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/integration/fault_schedule.h"
#include "server/io/io_backend.h"
#include "server/io/io_request.h"
#include "server/io/testing/faulty_io_backend.h"

namespace blockstore {

// The IoBackend of faulty_blockstored: the real backend, a FaultyIoBackend over it with a
// FaultSchedule applied, and a router in front. When the schedule names volumes (vol=), only
// their requests go through the faulty backend and the others go straight to the real one, as
// if those volumes lived on a failing disk and the rest on a healthy one; otherwise every
// request does. A request's volume is the file its fd names (/proc/self/fd: NAME.vol), looked
// up per request, which a test build can afford.
//
// Thread-safe, as the backends it forwards to.
class FaultRoutingBackend final : public IoBackend {
 public:
  FaultRoutingBackend(std::unique_ptr<IoBackend> real, const FaultSchedule& schedule);
  // Shuts down.
  ~FaultRoutingBackend() override;

  FaultRoutingBackend(const FaultRoutingBackend&) = delete;
  FaultRoutingBackend& operator=(const FaultRoutingBackend&) = delete;

  // The faults injected so far.
  FaultyIoBackend::FaultCounts Counts() { return faulty_->Counts(); }

  absl::Status Submit(IoRequest* request) override;
  // Shuts the faulty backend down, which releases its held completions and shuts the real
  // backend down. Idempotent.
  void Shutdown() override;
  // "faulty-" and the real backend's name ("faulty-uring"): GetVolumeInfo says which build
  // serves.
  absl::string_view Name() const override { return name_; }

 private:
  // Whether the faults apply to a request on `fd`.
  bool Faulted(int fd) const;

  const std::unique_ptr<IoBackend> real_;
  const std::unique_ptr<FaultyIoBackend> faulty_;  // over real_; declared after it
  const std::vector<std::string> volume_files_;    // "NAME.vol"; empty: every file
  const std::string name_;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_INTEGRATION_FAULT_ROUTING_BACKEND_H_
