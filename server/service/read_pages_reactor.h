#ifndef BLOCKSTORE_SERVER_SERVICE_READ_PAGES_REACTOR_H_
#define BLOCKSTORE_SERVER_SERVICE_READ_PAGES_REACTOR_H_

#include <cstdint>
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

// One ReadPages stream: reads up to options().read_stream_readahead_max pages ahead with
// Volume::Read and sends them in page order, one StartWrite at a time. A failed read ends the
// stream with its status after the pages before it were sent. The caller has validated the
// range.
//
// Thread-safe: reactions run on gRPC threads, read callbacks on engine threads or inline. gRPC
// operations are started outside mu_. Finish is called once no read or send is pending.
class ReadPagesReactor : public grpc::ServerWriteReactor<v1::ReadPageResponse> {
 public:
  ReadPagesReactor(const ServiceState* state, std::shared_ptr<Volume> volume,
                   uint64_t first_page_index, uint64_t page_count);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  struct Slot {
    v1::ReadPageResponse response;
    bool ready = false;
  };

  // Issues reads while the window has room.
  void IssueReads() ABSL_LOCKS_EXCLUDED(mu_);
  void OnPageRead(uint64_t page_index, absl::StatusOr<absl::string_view> data)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Sends the next page if it is ready, or finishes the call when nothing is left to do.
  // `end_callback`: a read callback's last step, ending its callbacks_running_ hold in the same
  // critical section that decides whether the call finishes.
  void Advance(bool end_callback = false) ABSL_LOCKS_EXCLUDED(mu_);
  Slot& SlotFor(uint64_t page_index) { return slots_[page_index % slots_.size()]; }

  const ServiceState* const state_;
  const std::shared_ptr<Volume> volume_;
  const absl::Time start_;
  const uint64_t end_page_;  // one past the last page to send

  std::vector<Slot> slots_;  // Fixed size: the read-ahead window.

  absl::Mutex mu_;
  uint64_t next_read_ ABSL_GUARDED_BY(mu_);  // next page to issue a read for
  uint64_t next_send_ ABSL_GUARDED_BY(mu_);  // next page to send
  uint64_t stop_page_ ABSL_GUARDED_BY(mu_);  // the first failed page (end_page_ if none)
  absl::Status read_error_ ABSL_GUARDED_BY(mu_);
  int reads_pending_ ABSL_GUARDED_BY(mu_) = 0;
  // Read callbacks between their first and last use of the reactor. gRPC keeps a reactor alive
  // only while its own reactions run; the call is not finished while this is non-zero.
  int callbacks_running_ ABSL_GUARDED_BY(mu_) = 0;
  bool sending_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;  // cancelled, or a send failed
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_READ_PAGES_REACTOR_H_
