#ifndef BLOCKSTORE_SERVER_SERVICE_SERVICE_STATE_H_
#define BLOCKSTORE_SERVER_SERVICE_SERVICE_STATE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "blockstore/v1/access_policy.pb.h"
#include "blockstore/v1/blockstore.pb.h"
#include "grpcpp/server_context.h"
#include "server/metrics/server_metrics.h"
#include "server/security/authorizer.h"
#include "server/security/caller.h"
#include "server/security/client_limits.h"
#include "server/security/refusal_log.h"
#include "server/service/message_limits.h"
#include "server/volume/volume.h"
#include "server/volume/volume_config.h"
#include "server/volume/volume_registry.h"

namespace blockstore {

struct BlockServiceOptions {
  // Reported in VolumeInfo.max_message_bytes; the server builder enforces it.
  uint32_t max_message_bytes = kDefaultMaxMessageBytes;
  // Reported in VolumeInfo.io_backend.
  std::string io_backend_name;
  // Writes of one WritePages stream in flight (read and not yet answered). The stream is not
  // read further while this many are pending: gRPC flow control then holds the client back.
  uint32_t write_stream_inflight_max = 256;
  // Memory of parsed requests one batch stream (WritePageBatches, ReadPageBatches) holds at
  // most before it stops reading: a batch's request lives until its last item is answered, so
  // without it 256 messages of up to max_message_bytes (a write or two each, the rest padding
  // or refused writes) could sit in one stream. 256 pages of 64 KiB, what
  // write_stream_inflight_max allows of page data; a stream may overshoot by one message.
  uint64_t batch_stream_held_bytes_max = 16u << 20;
  // Pages of one ReadPages stream read ahead of the one being sent.
  uint32_t read_stream_readahead_max = 16;
  // Streams (WritePages, WritePageBatches, ReadPages, ReadPageBatches, Flush) open at once, on all
  // connections: each holds memory (a write stream up to write_stream_inflight_max requests) and
  // may keep work queued in the engine. Past it a new stream fails RESOURCE_EXHAUSTED at once.
  uint32_t max_open_streams = 1024;
  // Who may call (docs/security.md); null: everyone may do everything. Must outlive the service.
  const Authorizer* authorizer = nullptr;
  // Per-client limits; null: none. Must outlive the service.
  ClientLimits* client_limits = nullptr;
};

// Who is calling and what it holds: taken once per call (a stream's for its whole life) by
// ServiceState::Admit, and passed to every check the call makes.
struct CallAccess {
  Caller caller;
  // The caller's counters under BlockServiceOptions::client_limits; null without limits.
  std::shared_ptr<ClientLimits::Client> client;
};

// One open stream's place under BlockServiceOptions::max_open_streams. Move-only. Its reactor
// gives it back in OnDone (GiveBack): the reactor itself may be deleted later, on an engine
// thread, after the gRPC server (and the ServiceState) are gone. Destroying it gives it back
// too, if that was not done.
class StreamSlot {
 public:
  StreamSlot(StreamSlot&& other) noexcept
      : open_(std::exchange(other.open_, nullptr)),
        limits_(std::exchange(other.limits_, nullptr)),
        client_(std::move(other.client_)) {}
  StreamSlot& operator=(StreamSlot&& other) noexcept {
    if (this != &other) {
      GiveBack();
      open_ = std::exchange(other.open_, nullptr);
      limits_ = std::exchange(other.limits_, nullptr);
      client_ = std::move(other.client_);
    }
    return *this;
  }
  StreamSlot(const StreamSlot&) = delete;
  StreamSlot& operator=(const StreamSlot&) = delete;
  ~StreamSlot() { GiveBack(); }

  // Gives the place back now (the server's and the client's); later calls do nothing.
  void GiveBack() {
    if (open_ != nullptr) open_->fetch_sub(1, std::memory_order_acq_rel);
    open_ = nullptr;
    if (limits_ != nullptr) limits_->CloseStream(*client_);
    limits_ = nullptr;
    client_.reset();
  }

 private:
  friend class ServiceState;
  StreamSlot(std::atomic<uint32_t>* open, const ClientLimits* limits,
             std::shared_ptr<ClientLimits::Client> client)
      : open_(open), limits_(limits), client_(std::move(client)) {}
  std::atomic<uint32_t>* open_;
  // The client's stream count, when it was taken.
  const ClientLimits* limits_;
  std::shared_ptr<ClientLimits::Client> client_;
};

// What every handler and reactor of BlockServiceImpl shares: the registry, the metrics, the
// shutdown flag and the options. Owned by BlockServiceImpl; reactors hold a pointer and are
// all finished before it goes away (the gRPC server is shut down first).
//
// Thread-safe.
class ServiceState {
 public:
  // `registry` must outlive this; `metrics` may be null (no RPC metrics).
  ServiceState(VolumeRegistry* registry, ServerMetrics* metrics, BlockServiceOptions options)
      : registry_(registry), metrics_(metrics), options_(std::move(options)) {}

  VolumeRegistry* registry() const { return registry_; }
  const BlockServiceOptions& options() const { return options_; }

  // From now on calls that change data or volumes fail with Unavailable.
  void BeginShutdown() { shutting_down_.store(true, std::memory_order_release); }
  bool shutting_down() const { return shutting_down_.load(std::memory_order_acquire); }
  // Unavailable when shutting down, else OK.
  absl::Status CheckAcceptingWrites() const;

  // Who is calling `context` (Authorizer::Identify) and its counters under the per-client
  // limits. UNAUTHENTICATED (counted and logged) for a bad token.
  absl::StatusOr<CallAccess> Admit(grpc::CallbackServerContext* context) const;
  // OK, or UNAUTHENTICATED when the server needs an identity and the caller has none.
  absl::Status Authenticate(const CallAccess& access) const;
  // Whether the caller may use `permission` on `volume`: OK, or UNAUTHENTICATED /
  // PERMISSION_DENIED, counted in blockstore_requests_denied_total and logged (rate-limited).
  absl::Status Authorize(const CallAccess& access, absl::string_view volume,
                         v1::Permission permission) const;
  // ListVolumes' filter.
  bool MayRead(const CallAccess& access, absl::string_view volume) const;

  // Validates the name in request field `field`, then looks the volume up: InvalidArgument
  // naming the field, or NotFound naming the volume.
  absl::StatusOr<std::shared_ptr<Volume>> FindVolume(absl::string_view name,
                                                     absl::string_view field = "volume") const;
  // FindVolume for a call that needs `permission`: the name is validated, then the caller
  // authorized, then the volume looked up, so a caller without access cannot learn which
  // names exist.
  absl::StatusOr<std::shared_ptr<Volume>> FindVolumeFor(const CallAccess& access,
                                                        absl::string_view name,
                                                        v1::Permission permission) const;

  // The service's one write path, for WritePage, WritePages and WritePageBatches: admits
  // `request` from the caller of `access` (AcceptWrite), hands it to Volume::Write with `deadline`,
  // and when the write ends fills `*response` (FillWriteResponse) and calls `done` with the write's
  // status. `done` runs exactly once: inline if the write is refused (nothing changed), else from
  // Volume::Write's callback, inline or on an engine thread. On admission `*volume` is set to the
  // volume before the engine sees the write: the caller keeps it until its call is done, so the
  // volume's last reference is not dropped on an engine thread (on refusal `*volume` is left as it
  // was). REQUIRES: `request` (its data) and `*response` stay valid and untouched until `done`
  // runs.
  void Write(const CallAccess& access, const v1::WritePageRequest& request, absl::Time deadline,
             std::shared_ptr<Volume>* volume, v1::WritePageResponse* response,
             std::function<void(const absl::Status&)> done) const;

  // A place for a new stream of the caller of `access`, or RESOURCE_EXHAUSTED naming the limit
  // when options().max_open_streams are open or the caller has its limit of streams open.
  absl::StatusOr<StreamSlot> OpenStream(const CallAccess& access) const;
  uint32_t open_streams() const { return open_streams_.load(std::memory_order_acquire); }

  // Unary calls, from their handler until their reactor is deleted (streams are counted by
  // their StreamSlot). Shutdown waits for calls, not for idle connections.
  void UnaryCallStarted() const { unary_calls_.fetch_add(1, std::memory_order_acq_rel); }
  void UnaryCallEnded() const { unary_calls_.fetch_sub(1, std::memory_order_acq_rel); }
  // Every call in flight: unary calls and open streams.
  int64_t calls_in_flight() const {
    return unary_calls_.load(std::memory_order_acquire) + open_streams();
  }

  // One finished RPC, started at `start`.
  void ObserveRpc(RpcMethod method, absl::StatusCode code, absl::Time start) const {
    if (metrics_ != nullptr) metrics_->ObserveRpc(method, code, absl::Now() - start);
  }

 private:
  // Everything a write must pass before it reaches the engine, in the order every write call
  // checks it: not shutting down, a valid `volume` the caller may WRITE and that exists, the
  // request against that volume's geometry (ValidateWrite), then the caller's limits (last, so
  // a refused request costs the client nothing). Returns the volume to write to.
  absl::StatusOr<std::shared_ptr<Volume>> AcceptWrite(const CallAccess& access,
                                                      const v1::WritePageRequest& request) const;
  // Counts and logs a refusal of `access`'s caller.
  void Deny(const CallAccess& access, absl::string_view volume, const absl::Status& status,
            DenyReason reason) const;

  VolumeRegistry* const registry_;
  ServerMetrics* const metrics_;
  const BlockServiceOptions options_;
  mutable RefusalLog refusal_log_;
  std::atomic<bool> shutting_down_{false};
  mutable std::atomic<uint32_t> open_streams_{0};
  mutable std::atomic<int64_t> unary_calls_{0};
};

// The answer to `request`, which ended with `status`: its request_id and page_index, and the
// status's code and message unless it is OK. Clears `response` first.
void FillWriteResponse(const v1::WritePageRequest& request, const absl::Status& status,
                       v1::WritePageResponse* response);

// The deadline a write of an RPC with `rpc_deadline` gets in the engine (how long it may wait
// on the dirty limit): the call's deadline less a margin (a fifth of the time left, at most
// 250 ms), so the engine's RESOURCE_EXHAUSTED reaches the client before the client's own
// deadline turns the call into DEADLINE_EXCEEDED. gRPC says "no deadline" with the largest
// time_point: InfiniteFuture (the engine bounds the wait by dirty_wait_max).
absl::Time WriteWaitDeadline(std::chrono::system_clock::time_point rpc_deadline,
                             absl::Time now = absl::Now());

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_SERVICE_STATE_H_
