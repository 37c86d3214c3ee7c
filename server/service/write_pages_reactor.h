#ifndef BLOCKSTORE_SERVER_SERVICE_WRITE_PAGES_REACTOR_H_
#define BLOCKSTORE_SERVER_SERVICE_WRITE_PAGES_REACTOR_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "blockstore/v1/blockstore.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "server/service/service_state.h"
#include "server/volume/volume.h"

namespace blockstore {

// One WritePages stream. Requests are read into a fixed pool of slots (the stream's bound on
// writes in flight); each slot is handed to Volume::Write and, when its callback runs, its
// response is queued for sending. Responses go out in completion order, one StartWrite at a
// time, with a buffer hint while more are queued so gRPC coalesces them. A slot is free again
// once its response has been sent; with every slot busy the stream is not read, and HTTP/2
// flow control holds the client back.
//
// Thread-safe: reactions run on gRPC threads, write callbacks on engine threads or inline.
// gRPC operations are started outside mu_ (a reaction may run inline). Finish is called once
// no read, write or engine callback is pending; OnDone deletes the reactor.
class WritePagesReactor
    : public grpc::ServerBidiReactor<v1::WritePageRequest, v1::WritePageResponse> {
 public:
  WritePagesReactor(const ServiceState* state, grpc::CallbackServerContext* context);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  struct Slot {
    v1::WritePageRequest request;
    v1::WritePageResponse response;
    // The volume written; replaced when the slot is reused (on a read reaction) and released
    // in OnDone, so the last reference never drops on an engine thread.
    std::shared_ptr<Volume> volume;
  };

  // Starts a read if a slot is free and the client has not closed its side.
  void MaybeStartRead() ABSL_LOCKS_EXCLUDED(mu_);
  // Validates the request in `slot` and hands it to the engine, or answers it at once.
  void Dispatch(int slot);
  // The write in `slot` ended with `status`: queue its response.
  void OnWriteComplete(int slot, const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);
  // Starts sending the next queued response if none is being sent.
  void MaybeStartWrite() ABSL_LOCKS_EXCLUDED(mu_);
  // Finishes the call if nothing is pending. `end_callback`: an engine callback's last step,
  // ending its callbacks_running_ hold in the same critical section.
  void MaybeFinish(bool end_callback = false) ABSL_LOCKS_EXCLUDED(mu_);

  const ServiceState* const state_;
  const absl::Time start_;
  const absl::Time deadline_;

  std::vector<Slot> slots_;  // Fixed size: options().write_stream_inflight_max.

  absl::Mutex mu_;
  std::vector<int> free_slots_ ABSL_GUARDED_BY(mu_);
  std::deque<int> send_queue_ ABSL_GUARDED_BY(mu_);  // bounded by slots_.size()
  int reading_slot_ ABSL_GUARDED_BY(mu_) = -1;       // -1: no read outstanding
  int writing_slot_ ABSL_GUARDED_BY(mu_) = -1;       // -1: no write outstanding
  int engine_pending_ ABSL_GUARDED_BY(mu_) = 0;      // writes handed to the engine
  // Engine callbacks between their first and last use of the reactor. gRPC keeps a reactor
  // alive only while its own reactions run; the call is not finished while this is non-zero.
  int callbacks_running_ ABSL_GUARDED_BY(mu_) = 0;
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;    // client half-closed, or the stream broke
  bool broken_ ABSL_GUARDED_BY(mu_) = false;         // a send failed or the call was cancelled
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t failed_writes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_WRITE_PAGES_REACTOR_H_
