#ifndef BLOCKSTORE_SERVER_SERVICE_WRITE_PAGES_REACTOR_H_
#define BLOCKSTORE_SERVER_SERVICE_WRITE_PAGES_REACTOR_H_

#include <deque>
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
#include "server/service/write_slots.h"
#include "server/volume/volume.h"

namespace blockstore {

// One WritePages stream. Requests are read into a fixed pool of slots (the stream's bound on
// writes in flight); each slot is handed to the engine (ServiceState::Write) and, when its
// write ends, its response is queued for sending. Responses are sent in completion order, one
// at a time, with a buffer hint while more are queued so gRPC coalesces them. A slot is free
// again once its response has been sent; with every slot busy the stream is not read, and
// HTTP/2 flow control holds the client back.
//
// Words: a "write" is the engine's; a "send" is gRPC's StartWrite of a response, whose end
// gRPC reports to OnWriteDone.
//
// Thread-safe: reactions run on gRPC threads, write callbacks on engine threads or inline.
// gRPC operations are started outside mu_ (a reaction may run inline). lifetime_ finishes the
// call when the last read, send or engine write lets go, and deletes the reactor after OnDone.
//
// Raw messages (server/service/raw_message.h): the reactor parses each request itself, so a
// request that protobuf refuses (a volume name that is not UTF-8) ends the stream with
// INVALID_ARGUMENT naming the field once the writes before it are answered, instead of looking
// like the client's half-close.
class WritePagesReactor : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  WritePagesReactor(const ServiceState* state, CallAccess access, StreamSlot open_stream,
                    grpc::CallbackServerContext* context);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;  // a send ended
  void OnCancel() override;
  void OnDone() override;

 private:
  // Starts a read (holding lifetime_) if a slot is free and the stream is still read.
  void MaybeStartRead() ABSL_LOCKS_EXCLUDED(mu_);
  // Hands the request in `slot` to the engine, holding lifetime_ until OnWriteComplete ends.
  void Dispatch(int slot);
  // The write in `slot` ended and its response is filled: queue it for sending.
  // Runs on an engine thread or inline; releases the write's hold last.
  void OnWriteComplete(int slot) ABSL_LOCKS_EXCLUDED(mu_);
  // Starts sending the next queued response (holding lifetime_) if none is being sent.
  void MaybeStartSend() ABSL_LOCKS_EXCLUDED(mu_);
  // The call was cancelled or a send failed: nothing more is sent or read.
  void BreakStream() ABSL_LOCKS_EXCLUDED(mu_);

  const ServiceState* const state_;
  const CallAccess access_;  // who is calling: every write of the stream is checked for it
  StreamSlot open_stream_;   // its place under max_open_streams, until the reactor is deleted
  const absl::Time start_;
  const absl::Time deadline_;

  // options().write_stream_inflight_max slots; Take, Filled and Give under mu_, a busy slot's
  // contents belong to its holder. Released (and freed) in OnDone.
  WriteSlots slots_;

  ReactorLifetime lifetime_;

  // The request being read (one at a time), parsed into its slot in OnReadDone; the response
  // being sent (one at a time), serialized from its slot. gRPC owns each between its Start and
  // its reaction.
  grpc::ByteBuffer read_buffer_;
  grpc::ByteBuffer send_buffer_;

  absl::Mutex mu_;
  std::deque<int> send_queue_ ABSL_GUARDED_BY(mu_);  // bounded by slots_.size()
  int reading_slot_ ABSL_GUARDED_BY(mu_) = -1;       // -1: no read outstanding
  int sending_slot_ ABSL_GUARDED_BY(mu_) = -1;       // -1: no send outstanding
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;    // the client half-closed
  // OnReadDone is handing the request read to the engine: no other read starts meanwhile, so
  // a stream's writes reach the engine in the order they were sent (the proto's promise).
  bool dispatching_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_WRITE_PAGES_REACTOR_H_
