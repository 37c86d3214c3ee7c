#ifndef BLOCKSTORE_SERVER_SERVICE_READ_PAGES_REACTOR_H_
#define BLOCKSTORE_SERVER_SERVICE_READ_PAGES_REACTOR_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "blockstore/v1/blockstore.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "server/service/reactor_lifetime.h"
#include "server/service/service_state.h"
#include "server/volume/volume.h"

namespace blockstore {

// One ReadPages stream: reads up to options().read_stream_readahead_max pages ahead with
// Volume::Read and sends them in page order, one send at a time. A failed read ends the
// stream with its status after the pages before it were sent. The caller has validated the
// range.
//
// Words: a "read" is the engine's Volume::Read; a "send" is gRPC's StartWrite of a page,
// whose end gRPC reports to OnWriteDone.
//
// Thread-safe: reactions run on gRPC threads, read callbacks on engine threads or inline. gRPC
// operations are started outside mu_. lifetime_ finishes the call when the last read or send
// lets go, and deletes the reactor after OnDone.
// Sends raw messages: the service parses its requests itself (server/service/raw_message.h),
// so its responses are serialized here too.
class ReadPagesReactor : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  ReadPagesReactor(const ServiceState* state, StreamSlot open_stream,
                   std::shared_ptr<Volume> volume, uint64_t first_page_index, uint64_t page_count);

  void OnWriteDone(bool ok) override;  // a send ended
  void OnCancel() override;
  void OnDone() override;

 private:
  struct Slot {
    v1::ReadPageResponse response;
    bool ready = false;
  };

  // Issues reads (each holding lifetime_ until OnPageRead ends) while the window has room.
  void IssueReads() ABSL_LOCKS_EXCLUDED(mu_);
  // Runs on an engine thread or inline; releases the read's hold last.
  void OnPageRead(uint64_t page_index, absl::StatusOr<absl::string_view> data)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Sends the next page (holding lifetime_) if it is ready and nothing is being sent. Once
  // every page before the first failed one was sent, records that page's error as the call's.
  void MaybeStartSend() ABSL_LOCKS_EXCLUDED(mu_);
  Slot& SlotFor(uint64_t page_index) { return slots_[page_index % slots_.size()]; }

  const ServiceState* const state_;
  StreamSlot open_stream_;  // its place under max_open_streams, until the reactor is deleted
  std::shared_ptr<Volume> volume_;  // Released in OnDone, on a gRPC thread.
  // The page being sent, serialized (one send at a time: sending_).
  grpc::ByteBuffer send_buffer_;
  const absl::Time start_;

  // Fixed size: the read-ahead window. Moved out (and freed) in OnDone.
  std::vector<Slot> slots_;

  ReactorLifetime lifetime_;

  absl::Mutex mu_;
  uint64_t next_read_ ABSL_GUARDED_BY(mu_);  // next page to issue a read for
  uint64_t next_send_ ABSL_GUARDED_BY(mu_);  // next page to send
  // The first failed page; one past the last page of the range while none failed.
  uint64_t stop_page_ ABSL_GUARDED_BY(mu_);
  absl::Status read_error_ ABSL_GUARDED_BY(mu_);  // stop_page_'s
  bool sending_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_READ_PAGES_REACTOR_H_
