#ifndef BLOCKSTORE_SERVER_SERVICE_FLUSH_REACTOR_H_
#define BLOCKSTORE_SERVER_SERVICE_FLUSH_REACTOR_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "blockstore/v1/blockstore.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "server/service/flush_event_queue.h"
#include "server/service/reactor_lifetime.h"
#include "server/service/service_state.h"
#include "server/volume/volume.h"

namespace blockstore {

// One Flush call: the engine's FlushObserver and the stream's writer in one object. Each
// PageResult becomes a FlushEvent.page, the FlushSummary a FlushEvent.summary, and the call
// ends with the flush's status. Events wait in a FlushEventQueue while one is being sent,
// pages that ended OK as runs of indexes, so a client that never reads its stream costs the
// server a few entries per flush, not one event per page of the cache. If the client asked
// for grouped page events, the pages queued while an event was being sent go out together as
// one FlushEvent.pages: a flush after every 256 writes otherwise costs as many messages as the
// writes it covers. If it asked for the summary only, no page event is sent at all.
//
// Words: a "send" is gRPC's StartWrite of an event, whose end gRPC reports to OnWriteDone.
//
// Lifetime (lifetime_): the engine holds it from Start until OnFlushDone returns, and each
// send until its OnWriteDone returns; the last to let go finishes the call. So the engine may
// still be inside OnFlushDone when the call is finished, and gRPC may still deliver OnDone
// after the engine left; the reactor is deleted once both are done with it.
//
// Thread-safe: engine callbacks on any thread, reactions on gRPC threads. gRPC operations are
// started outside mu_.
// Sends raw messages (server/service/raw_message.h: the service parses its requests itself).
class FlushReactor : public grpc::ServerWriteReactor<grpc::ByteBuffer>, public FlushObserver {
 public:
  // What the client asked to hear of the pages (FlushRequest).
  enum class PageEvents { kEach, kGrouped, kNone };

  // Starts the flush. `volume` must be the volume named in the request.
  static FlushReactor* Start(const ServiceState* state, StreamSlot open_stream,
                             std::shared_ptr<Volume> volume,
                             absl::optional<ErrorCursor> error_cursor, PageEvents page_events);

  // FlushObserver.
  void OnPageDone(const PageResult& result) override;
  void OnFlushDone(const FlushSummary& summary) override;

  // ServerWriteReactor.
  void OnWriteDone(bool ok) override;  // a send ended
  void OnCancel() override;
  void OnDone() override;

 private:
  FlushReactor(const ServiceState* state, StreamSlot open_stream, std::shared_ptr<Volume> volume,
               PageEvents page_events);
  // Sends the next queued event (holding lifetime_) if none is being sent.
  void MaybeStartSend() ABSL_LOCKS_EXCLUDED(mu_);
  // The call was cancelled or a send failed: nothing more is sent.
  void BreakStream() ABSL_LOCKS_EXCLUDED(mu_);

  const ServiceState* const state_;
  StreamSlot open_stream_;  // its place under max_open_streams, until the reactor is deleted
  // Released in OnDone, on a gRPC thread: if it is the volume's last reference, the volume
  // must not be destroyed on one of its own threads (the engine's, inside OnFlushDone).
  std::shared_ptr<Volume> volume_;
  const std::string volume_name_;
  const absl::Time start_;
  const PageEvents page_events_;

  ReactorLifetime lifetime_;

  absl::Mutex mu_;
  FlushEventQueue queue_ ABSL_GUARDED_BY(mu_);
  // The event being sent: replaced under mu_ only while sending_ is false, read by gRPC
  // between StartWrite and OnWriteDone.
  v1::FlushEvent sending_event_;
  grpc::ByteBuffer send_buffer_;  // sending_event_, serialized
  bool sending_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_FLUSH_REACTOR_H_
