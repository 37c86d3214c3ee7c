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
#include "server/service/reactor_lifetime.h"
#include "server/service/service_state.h"
#include "server/volume/volume.h"

namespace blockstore {

// One WritePageBatches stream: WritePages with many writes per message, because for 4 KiB
// pages gRPC's cost per message (framing, a callback and a thread wake-up on each side) is
// what limits throughput, not the bytes.
//
// Each batch read is handed to the engine (ServiceState::Write) write by write in the same
// reaction. A finished write's result goes into an outbox; whenever no response message is
// being sent, the whole outbox is sent as one WritePageBatchResponse, so results are grouped by
// when they finished, not by the batch they came in. The stream is not read while
// write_stream_inflight_max writes are unanswered (a batch may overshoot by its own size, which
// max_message_bytes bounds), and HTTP/2 flow control then holds the client back.
//
// A batch's request message (and so every write's data) lives until its last write is
// answered; it is then retired and reused as a read buffer by a later reaction, or freed in
// OnDone, so neither the message nor the volume references it holds are ever freed on an
// engine thread.
//
// Words: a "write" is the engine's; a "send" is gRPC's StartWrite of a response message, whose
// end gRPC reports to OnWriteDone.
//
// Thread-safe: reactions run on gRPC threads, write callbacks on engine threads or inline.
// gRPC operations are started outside mu_ (a reaction may run inline). lifetime_ finishes the
// call when the last read, send or engine write lets go, and deletes the reactor after OnDone.
//
// Raw messages (server/service/raw_message.h): a batch protobuf refuses (a volume name that is
// not UTF-8) ends the stream with INVALID_ARGUMENT naming the write and field
// ("writes[3].volume: ..."), none of its writes taken, once earlier writes are answered.
class WritePageBatchesReactor : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  WritePageBatchesReactor(const ServiceState* state, CallAccess access, StreamSlot open_stream,
                          grpc::CallbackServerContext* context);
  ~WritePageBatchesReactor() override;

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;  // a send ended
  void OnCancel() override;
  void OnDone() override;

 private:
  struct Batch {
    v1::WritePageBatchRequest request;
    // results(i) is the answer to request.writes(i), filled when that write ends, then moved
    // to the outbox.
    v1::WritePageBatchResponse answers;
    // One per write handed to the engine, released when the batch is reused or freed.
    std::vector<std::shared_ptr<Volume>> volumes;
    // Guarded by the reactor's mu_ (a nested struct cannot name it):
    // writes not yet answered, plus one while Dispatch still walks the batch (so a write that
    // completes inline cannot retire the batch under Dispatch's feet);
    size_t unanswered = 0;
    // Dispatch still walks the batch: it sends the results gathered meanwhile at its end.
    bool dispatching = false;
  };

  // Starts a read (holding lifetime_) if the window has room and the stream is still read.
  void MaybeStartRead() ABSL_LOCKS_EXCLUDED(mu_);
  // Hands every write of `batch` to the engine (each holding lifetime_ until its
  // OnWriteComplete ends), or answers it at once if it is refused.
  void Dispatch(Batch* batch) ABSL_LOCKS_EXCLUDED(mu_);
  // The write answered by `answer` (one of `batch`'s) ended: move its result to the outbox.
  // Runs on an engine thread or inline; releases the write's hold last.
  void OnWriteComplete(Batch* batch, v1::WritePageResponse* answer) ABSL_LOCKS_EXCLUDED(mu_);
  // Drops one unanswered count of `batch`, retiring it at zero.
  void ReleaseBatchLocked(Batch* batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends the outbox (holding lifetime_) if no response message is being sent.
  void MaybeStartSend() ABSL_LOCKS_EXCLUDED(mu_);
  // The call was cancelled or a send failed: nothing more is sent or read.
  void BreakStream() ABSL_LOCKS_EXCLUDED(mu_);

  const ServiceState* const state_;
  const CallAccess access_;  // who is calling: every write of the stream is checked for it
  StreamSlot open_stream_;   // its place under max_open_streams, until the reactor is deleted
  const absl::Time start_;
  const absl::Time deadline_;
  const size_t inflight_max_;

  // The message being sent: filled under mu_ while no send is outstanding, then read by gRPC
  // until OnWriteDone.
  v1::WritePageBatchResponse sending_response_;

  ReactorLifetime lifetime_;

  // The batch message being read (parsed into reading_'s request in OnReadDone), and the
  // response message being sent (serialized from sending_response_). One of each at a time.
  grpc::ByteBuffer read_buffer_;
  grpc::ByteBuffer send_buffer_;

  absl::Mutex mu_;
  std::unique_ptr<Batch> reading_ ABSL_GUARDED_BY(mu_);  // the read outstanding, if any
  // Answered batches kept for reuse as read buffers (at most kSpareBatches while the stream is
  // read; every batch once the call is finished).
  std::vector<std::unique_ptr<Batch>> spare_ ABSL_GUARDED_BY(mu_);
  v1::WritePageBatchResponse outbox_ ABSL_GUARDED_BY(mu_);  // results not yet being sent
  size_t unanswered_ ABSL_GUARDED_BY(mu_) = 0;     // writes read whose result was not yet sent
  bool sending_ ABSL_GUARDED_BY(mu_) = false;      // sending_response_ is being sent
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;  // the client half-closed
  // OnReadDone is handing a batch to the engine: no other read starts meanwhile, so a stream's
  // writes reach the engine in the order they were sent (the proto's promise).
  bool dispatching_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_WRITE_PAGE_BATCHES_REACTOR_H_
