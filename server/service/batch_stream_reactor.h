#ifndef BLOCKSTORE_SERVER_SERVICE_BATCH_STREAM_REACTOR_H_
#define BLOCKSTORE_SERVER_SERVICE_BATCH_STREAM_REACTOR_H_

#include <cstddef>
#include <limits>
#include <memory>
#include <type_traits>
#include <utility>
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

// The stream machinery of the batch streams (WritePageBatches, ReadPageBatches): many items
// (page writes, page reads) per message both ways, because for small pages gRPC's cost per
// message (framing, a callback and a wake-up on each side) is what limits throughput, not the
// bytes. The derived reactor says how many items a request carries and starts each one
// (StartItem); everything else is here:
// - One request message is read at a time. Its items are handed to StartItem in order, in the
//   same reaction, and no other read starts meanwhile, so a stream's items reach the engine in
//   the order they were sent (the proto's promise).
// - A finished item's result goes into an outbox; whenever no response message is being sent,
//   the outbox's oldest results (up to message_max_bytes encoded, at least one) go as one
//   message, so results are grouped by when they finished, not by the batch they came in.
// - The stream is not read while options().write_stream_inflight_max items are unanswered, or
//   while the memory of its unretired batches' requests adds up to
//   options().batch_stream_held_bytes_max (a batch may overshoot either by its own size), and
//   HTTP/2 flow control then holds the client back.
// - A batch's request message (and so every item's data) lives until its last item is
//   answered; it is then retired and reused for a later read, or freed in OnDone. So neither
//   the message nor the volume references it holds are ever freed on an engine thread.
// - A request that does not parse (server/service/raw_message.h: a volume name that is not
//   UTF-8) or that CheckRequest refuses ends the stream with that status once the items before
//   it are answered; none of its items is taken.
//
// Words: an "item" is the engine's (a write, a read); gRPC's reading of a request message is
// StartRead/OnReadDone, its sending of a response message StartWrite/OnWriteDone (a "send").
//
// Thread-safe: reactions run on gRPC threads, item callbacks on engine threads or inline. gRPC
// operations are started outside mu_ (a reaction may run inline). lifetime_ finishes the call
// when the last gRPC read, send or item lets go, and deletes the reactor after OnDone.
//
// Defined in batch_stream_reactor.cc for the service's two batch streams (its explicit
// instantiations); a new batch stream adds its line there.
template <typename Request, typename Response>
class BatchStreamReactor : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
  struct Batch;  // private, below: an ItemDone points at one

 public:
  // One result of a Response (its `results` field): v1::WritePageResponse, v1::ReadPageResult.
  using Result = std::remove_pointer_t<decltype(std::declval<Response&>().add_results())>;

  // message_max_bytes for a stream whose whole outbox goes in one message, whatever its size.
  static constexpr size_t kUnboundedMessages = std::numeric_limits<size_t>::max();

  BatchStreamReactor(const BatchStreamReactor&) = delete;
  BatchStreamReactor& operator=(const BatchStreamReactor&) = delete;

  void OnReadDone(bool ok) final;
  void OnWriteDone(bool ok) final;  // a send ended
  void OnCancel() final;
  void OnDone() final;

 protected:
  // The handle StartItem gives its item's callback: calling it once says the item's answer is
  // filled, moves it to the outbox and gives back the item's hold on the lifetime, as the
  // callback's last use of the reactor. Copyable (std::function needs it); three pointers.
  class ItemDone {
   public:
    void operator()() const { reactor_->OnItemDone(batch_, answer_); }

   private:
    friend class BatchStreamReactor;
    ItemDone(BatchStreamReactor* reactor, Batch* batch, Result* answer)
        : reactor_(reactor), batch_(batch), answer_(answer) {}

    BatchStreamReactor* reactor_;
    Batch* batch_;
    Result* answer_;
  };

  // `method` is the call's (its metrics). A response message carries results up to
  // `message_max_bytes` encoded, at least one (kUnboundedMessages: the whole outbox). Starts
  // the first read: gRPC delivers no reaction before the handler has returned the reactor, so
  // the derived reactor is constructed by the first call to a hook.
  BatchStreamReactor(const ServiceState* state, RpcMethod method, CallAccess access,
                     StreamSlot open_stream, size_t message_max_bytes);
  ~BatchStreamReactor() override;

  // The number of items in `request` (its `writes`, its `reads`).
  virtual int ItemCount(const Request& request) const = 0;
  // A request that parsed but must not be taken (none of its items is): the stream ends with
  // this status once the items before it are answered. OK by default.
  virtual absl::Status CheckRequest(const Request& request) const { return absl::OkStatus(); }
  // Starts item `index` of `request`, or answers it at once if it is refused. `*answer` is the
  // item's result, empty; `*volume` keeps the volume the item uses until the batch is retired,
  // so its last reference is dropped on a gRPC thread. Calls `done()` exactly once, inline or
  // on any thread, once `*answer` is filled; `request`, `*answer` and `*volume` stay untouched
  // until then. Runs on a gRPC thread, outside mu_, while the reactor holds the lifetime for
  // the item.
  virtual void StartItem(const Request& request, int index, std::shared_ptr<Volume>* volume,
                         Result* answer, ItemDone done) = 0;

  const ServiceState* state() const { return state_; }
  // Who is calling: every item of the stream is checked for it.
  const CallAccess& access() const { return access_; }

 private:
  struct Batch {
    Request request;
    // results(i) answers item i of the request, filled when that item ends, then moved to the
    // outbox.
    Response answers;
    // One per item handed to the engine, released when the batch is reused or freed.
    std::vector<std::shared_ptr<Volume>> volumes;
    // Guarded by the reactor's mu_ (a nested struct cannot name it):
    // items not yet answered, plus one while Dispatch still walks the batch (so an item that
    // completes inline cannot retire the batch under Dispatch's feet);
    size_t unanswered = 0;
    // Dispatch still walks the batch: it sends the results gathered meanwhile at its end.
    bool dispatching = false;
    // The memory its request and answers hold (SpaceUsedLong, taken after each parse: a
    // reused request keeps the items and string capacity of every message it held), counted
    // in held_bytes_ from OnReadDone until the batch is retired.
    size_t footprint = 0;
  };

  // Starts a read (holding lifetime_) if the window has room and the stream is still read.
  void MaybeStartRead() ABSL_LOCKS_EXCLUDED(mu_);
  // Hands every item of `batch` to StartItem, each holding lifetime_ until its OnItemDone
  // ends.
  void Dispatch(Batch* batch) ABSL_LOCKS_EXCLUDED(mu_);
  // The item answered by `answer` (one of `batch`'s) ended: move its result to the outbox.
  // Runs on an engine thread or inline; releases the item's hold last.
  void OnItemDone(Batch* batch, Result* answer) ABSL_LOCKS_EXCLUDED(mu_);
  // Drops one unanswered count of `batch`, retiring it at zero.
  void ReleaseBatchLocked(Batch* batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends (holding lifetime_) the outbox's oldest results, up to the message size, if no
  // response message is being sent.
  void MaybeStartSend() ABSL_LOCKS_EXCLUDED(mu_);
  // The call was cancelled or a send failed: nothing more is sent or read.
  void BreakStream() ABSL_LOCKS_EXCLUDED(mu_);

  const ServiceState* const state_;
  const CallAccess access_;
  StreamSlot open_stream_;  // its place under max_open_streams, until the reactor is deleted
  const absl::Time start_;
  const size_t inflight_max_;
  const size_t held_bytes_max_;
  const size_t message_max_bytes_;

  // The message being sent: filled under mu_ while no send is outstanding, then read by gRPC
  // (serialized into send_buffer_) and OnWriteDone.
  Response sending_response_;

  ReactorLifetime lifetime_;

  // The request message being read (parsed into reading_'s request in OnReadDone), and the
  // response message being sent. One of each at a time.
  grpc::ByteBuffer read_buffer_;
  grpc::ByteBuffer send_buffer_;

  absl::Mutex mu_;
  std::unique_ptr<Batch> reading_ ABSL_GUARDED_BY(mu_);  // the read outstanding, if any
  // Answered batches kept for reuse as read buffers (at most kSpareBatches while the stream is
  // read; every batch once the call is finished).
  std::vector<std::unique_ptr<Batch>> spare_ ABSL_GUARDED_BY(mu_);
  Response outbox_ ABSL_GUARDED_BY(mu_);           // results not yet being sent
  size_t unanswered_ ABSL_GUARDED_BY(mu_) = 0;     // items taken whose result was not yet sent
  size_t held_bytes_ ABSL_GUARDED_BY(mu_) = 0;     // footprints of the unretired batches
  bool sending_ ABSL_GUARDED_BY(mu_) = false;      // sending_response_ is being sent
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;  // the client half-closed
  // OnReadDone is handing a batch to the engine: no other read starts meanwhile, so a stream's
  // items reach the engine in the order they were sent.
  bool dispatching_ ABSL_GUARDED_BY(mu_) = false;
};

extern template class BatchStreamReactor<v1::WritePageBatchRequest, v1::WritePageBatchResponse>;
extern template class BatchStreamReactor<v1::ReadPageBatchRequest, v1::ReadPageBatchResponse>;

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_BATCH_STREAM_REACTOR_H_
