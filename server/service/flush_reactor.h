#ifndef BLOCKSTORE_SERVER_SERVICE_FLUSH_REACTOR_H_
#define BLOCKSTORE_SERVER_SERVICE_FLUSH_REACTOR_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "blockstore/v1/blockstore.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "server/service/service_state.h"
#include "server/volume/volume.h"

namespace blockstore {

// One Flush call: the engine's FlushObserver and the stream's writer in one object. Each
// PageResult becomes a FlushEvent.page, the FlushSummary a FlushEvent.summary, and the call
// ends with the flush's status. Events wait in a queue while one is being sent; the queue is
// bounded by the pages dirty when the flush started (at most the cache's pages) plus one.
// If the client asked for grouped page events, the pages queued while an event was being sent
// go out together as one FlushEvent.pages: a flush after every 256 writes otherwise costs as
// many messages as the writes it covers.
//
// Lifetime: two references, one for gRPC (dropped in OnDone) and one for the engine (dropped
// when OnFlushDone returns); the last one deletes. So the engine may still be inside
// OnFlushDone when the call is done, and gRPC may still deliver OnDone after the engine left.
//
// Thread-safe: engine callbacks on any thread, reactions on gRPC threads. gRPC operations are
// started outside mu_.
class FlushReactor : public grpc::ServerWriteReactor<v1::FlushEvent>, public FlushObserver {
 public:
  // Starts the flush. `volume` must be the volume named in the request.
  static FlushReactor* Start(const ServiceState* state, std::shared_ptr<Volume> volume,
                             absl::optional<uint32_t> error_cursor, bool group_page_events);

  // FlushObserver.
  void OnPageDone(const PageResult& result) override;
  void OnFlushDone(const FlushSummary& summary) override;

  // ServerWriteReactor.
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  FlushReactor(const ServiceState* state, std::shared_ptr<Volume> volume,
               bool group_page_events);
  void Enqueue(v1::FlushEvent event) ABSL_LOCKS_EXCLUDED(mu_);
  // Sends the next queued event, or finishes when the summary was sent.
  void Advance() ABSL_LOCKS_EXCLUDED(mu_);
  void Unref();

  const ServiceState* const state_;
  // Released in OnDone, on a gRPC thread: if it is the volume's last reference, the volume
  // must not be destroyed on one of its own threads (the engine's, inside OnFlushDone).
  std::shared_ptr<Volume> volume_;
  const std::string volume_name_;
  const absl::Time start_;
  const bool group_page_events_;
  std::atomic<int> refs_{2};

  absl::Mutex mu_;
  std::deque<v1::FlushEvent> queue_ ABSL_GUARDED_BY(mu_);
  // The event being sent: replaced under mu_ only while sending_ is false, read by gRPC
  // between StartWrite and OnWriteDone.
  v1::FlushEvent sending_event_;
  bool sending_ ABSL_GUARDED_BY(mu_) = false;
  bool engine_done_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status result_ ABSL_GUARDED_BY(mu_);
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_FLUSH_REACTOR_H_
