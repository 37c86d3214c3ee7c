#ifndef BLOCKSTORE_SERVER_SERVICE_READ_PAGE_BATCHES_REACTOR_H_
#define BLOCKSTORE_SERVER_SERVICE_READ_PAGE_BATCHES_REACTOR_H_

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

// One ReadPageBatches stream: ReadPage with many reads per message, because gRPC's cost per
// unary call (creating the call, its arena and filters, a wake-up on each side) is several
// times the cost of reading a cached page (docs/benchmarks.md, "Service").
//
// The same shape as WritePageBatchesReactor: each batch read is handed to the engine
// (Volume::Read) read by read in the same reaction; a finished read's result goes into an
// outbox; whenever no response message is being sent, the outbox is sent, up to
// max_message_bytes per message (at least one result), so results are grouped by when they
// finished. The stream is not read while write_stream_inflight_max reads are unanswered, and
// HTTP/2 flow control then holds the client back; a message carries at most kMaxReadsPerBatch
// reads (more ends the stream INVALID_ARGUMENT), so a stream holds at most
// write_stream_inflight_max + kMaxReadsPerBatch pages of answers.
//
// A read that is refused (a bad name or page, no permission, no such volume) or fails in the
// engine is answered alone with its code and message: the stream goes on.
//
// Words: a "read" is the engine's Volume::Read of one page; gRPC's reading of a request
// message is StartRead/OnReadDone, its sending of a response message StartWrite/OnWriteDone
// (a "send").
//
// Thread-safe: reactions run on gRPC threads, read callbacks on engine threads or inline.
// gRPC operations are started outside mu_ (a reaction may run inline). lifetime_ finishes the
// call when the last gRPC read, send or engine read lets go, and deletes the reactor after
// OnDone. Batches, and the volume references they hold, are freed on gRPC threads only.
class ReadPageBatchesReactor : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  // Reads in one request message at most (the .proto says so).
  static constexpr int kMaxReadsPerBatch = 256;

  ReadPageBatchesReactor(const ServiceState* state, CallAccess access, StreamSlot open_stream,
                         grpc::CallbackServerContext* context);
  ~ReadPageBatchesReactor() override;

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;  // a send ended
  void OnCancel() override;
  void OnDone() override;

 private:
  struct Batch {
    v1::ReadPageBatchRequest request;
    // results(i) answers request.reads(i), filled when that read ends, then moved to the outbox.
    v1::ReadPageBatchResponse answers;
    // One per read handed to the engine, released when the batch is reused or freed.
    std::vector<std::shared_ptr<Volume>> volumes;
    // Guarded by the reactor's mu_: reads not yet answered, plus one while Dispatch walks it.
    size_t unanswered = 0;
    bool dispatching = false;  // Dispatch walks it: it sends what finished at its end
  };

  void MaybeStartRead() ABSL_LOCKS_EXCLUDED(mu_);
  // Hands every read of `batch` to the engine (each holding lifetime_ until OnPageRead ends),
  // or answers it at once if it is refused.
  void Dispatch(Batch* batch) ABSL_LOCKS_EXCLUDED(mu_);
  // The read answered by `answer` (one of `batch`'s) ended: move its result to the outbox.
  void OnPageRead(Batch* batch, v1::ReadPageResult* answer) ABSL_LOCKS_EXCLUDED(mu_);
  void ReleaseBatchLocked(Batch* batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends (holding lifetime_) the outbox's oldest results, up to the message size, if no
  // response message is being sent.
  void MaybeStartSend() ABSL_LOCKS_EXCLUDED(mu_);
  void BreakStream() ABSL_LOCKS_EXCLUDED(mu_);

  const ServiceState* const state_;
  const CallAccess access_;  // who is calling: every read of the stream is checked for it
  StreamSlot open_stream_;   // its place under max_open_streams, until the reactor is deleted
  const absl::Time start_;
  const size_t inflight_max_;
  const size_t message_max_bytes_;  // per response message (at least one result)

  v1::ReadPageBatchResponse sending_response_;  // filled under mu_ while no send is outstanding

  ReactorLifetime lifetime_;

  grpc::ByteBuffer read_buffer_;
  grpc::ByteBuffer send_buffer_;

  absl::Mutex mu_;
  std::unique_ptr<Batch> reading_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Batch>> spare_ ABSL_GUARDED_BY(mu_);
  v1::ReadPageBatchResponse outbox_ ABSL_GUARDED_BY(mu_);
  size_t unanswered_ ABSL_GUARDED_BY(mu_) = 0;  // reads taken whose result was not yet sent
  bool sending_ ABSL_GUARDED_BY(mu_) = false;
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool dispatching_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_READ_PAGE_BATCHES_REACTOR_H_
