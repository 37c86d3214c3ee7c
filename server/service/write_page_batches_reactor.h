#ifndef BLOCKSTORE_SERVER_SERVICE_WRITE_PAGE_BATCHES_REACTOR_H_
#define BLOCKSTORE_SERVER_SERVICE_WRITE_PAGE_BATCHES_REACTOR_H_

#include <cstddef>
#include <memory>
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

// One WritePageBatches stream: WritePages with many writes per message, because for 4 KiB
// pages gRPC's cost per message (framing, a callback and a thread wake-up on each side) is
// what limits throughput, not the bytes.
//
// Each batch read is handed to the engine write by write in the same reaction. A finished
// write's result goes into an outbox; whenever no response message is being sent, the whole
// outbox goes out as one WritePageBatchResponse, so results are grouped by when they finished,
// not by the batch they came in. The stream is not read while write_stream_inflight_max writes
// are unanswered (a batch may overshoot by its own size, which max_message_bytes bounds), and
// HTTP/2 flow control then holds the client back.
//
// A batch's request message (and so every write's data) lives until its last write is
// answered; it is then retired and reused as a read buffer by a later reaction, so neither the
// message nor the volume references it holds are ever freed on an engine thread.
//
// Thread-safe: reactions run on gRPC threads, write callbacks on engine threads or inline.
// gRPC operations are started outside mu_ (a reaction may run inline). Finish is called once
// no read, write or engine callback is pending; OnDone deletes the reactor.
class WritePageBatchesReactor
    : public grpc::ServerBidiReactor<v1::WritePageBatchRequest, v1::WritePageBatchResponse> {
 public:
  WritePageBatchesReactor(const ServiceState* state, grpc::CallbackServerContext* context);
  ~WritePageBatchesReactor() override;

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  struct Batch {
    v1::WritePageBatchRequest request;
    // One per write handed to the engine, released when the batch is reused or freed.
    std::vector<std::shared_ptr<Volume>> volumes;
    // Guarded by the reactor's mu_ (a nested struct cannot name it):
    // writes not yet answered, plus one while Dispatch still walks the batch (so a write that
    // completes inline cannot retire the batch under Dispatch's feet);
    size_t unanswered = 0;
    // Dispatch still walks the batch: it sends the results gathered meanwhile at its end.
    bool dispatching = false;
  };

  // Starts a read if the window has room and the client has not closed its side.
  void MaybeStartRead() ABSL_LOCKS_EXCLUDED(mu_);
  // Hands every write of `batch` to the engine, or answers it at once if it is refused.
  void Dispatch(Batch* batch) ABSL_LOCKS_EXCLUDED(mu_);
  // Write `index` of `batch` ended with `status`: queue its result.
  void OnWriteComplete(Batch* batch, int index, const absl::Status& status)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Drops one unanswered count of `batch`, retiring it at zero.
  void ReleaseBatchLocked(Batch* batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends the outbox if no response message is being sent.
  void MaybeStartWrite() ABSL_LOCKS_EXCLUDED(mu_);
  // Finishes the call if nothing is pending. `end_callback`: an engine callback's last step,
  // ending its callbacks_running_ hold in the same critical section.
  void MaybeFinish(bool end_callback = false) ABSL_LOCKS_EXCLUDED(mu_);
  // Marks the stream broken: nothing more is sent or read.
  void BreakLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ServiceState* const state_;
  const absl::Time start_;
  const absl::Time deadline_;
  const size_t inflight_max_;

  // The message being sent: filled under mu_ while no send is outstanding, then read by gRPC
  // until OnWriteDone.
  v1::WritePageBatchResponse sending_;

  absl::Mutex mu_;
  std::unique_ptr<Batch> reading_ ABSL_GUARDED_BY(mu_);  // the read outstanding, if any
  // Answered batches kept for reuse as read buffers (at most kSpareBatches).
  std::vector<std::unique_ptr<Batch>> spare_ ABSL_GUARDED_BY(mu_);
  v1::WritePageBatchResponse outbox_ ABSL_GUARDED_BY(mu_);  // results not yet being sent
  size_t unanswered_ ABSL_GUARDED_BY(mu_) = 0;    // writes read whose result was not yet sent
  size_t live_batches_ ABSL_GUARDED_BY(mu_) = 0;  // batches with a write still in the engine
  // Engine callbacks between their first and last use of the reactor. gRPC keeps a reactor
  // alive only while its own reactions run; the call is not finished while this is non-zero.
  int callbacks_running_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;     // sending_ is being sent
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;  // client half-closed, or the stream broke
  bool broken_ ABSL_GUARDED_BY(mu_) = false;  // a send failed or the call was cancelled
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_WRITE_PAGE_BATCHES_REACTOR_H_
