#include "server/service/flush_reactor.h"

#include <string>
#include <utility>

#include "glog/logging.h"
#include "server/service/grpc_status.h"
#include "server/service/stream_send.h"

namespace blockstore {
namespace {

// A grouped event's size, at most about: far below any client's receive limit (gRPC's default
// is 4 MiB), though a Flush of a large cache full of failed pages, each with its message and
// failed blocks, could otherwise queue megabytes while one event is being sent.
constexpr size_t kMaxGroupedEventBytes = 64 * 1024;

}  // namespace

FlushReactor* FlushReactor::Start(const ServiceState* state, StreamSlot open_stream,
                                  std::shared_ptr<Volume> volume,
                                  absl::optional<ErrorCursor> error_cursor,
                                  PageEvents page_events) {
  auto* reactor = new FlushReactor(state, std::move(open_stream), volume, page_events);
  // Through the handler's reference, so the reactor's volume_ is only ever touched by the
  // reactor itself.
  volume->Flush(error_cursor, reactor);
  return reactor;
}

FlushReactor::FlushReactor(const ServiceState* state, StreamSlot open_stream,
                           std::shared_ptr<Volume> volume, PageEvents page_events)
    : state_(state),
      open_stream_(std::move(open_stream)),
      volume_(std::move(volume)),
      volume_name_(volume_->config().name),
      start_(absl::Now()),
      page_events_(page_events),
      // The creator's hold is the engine's, from Start until OnFlushDone returns.
      lifetime_(
          [this](const absl::Status& status) {
            state_->ObserveRpc(RpcMethod::kFlush, status.code(), start_);
            Finish(ToGrpcStatus(status));
          },
          [this] { delete this; }) {}

void FlushReactor::OnPageDone(const PageResult& result) {
  LOG_IF(WARNING, !result.status.ok())
      << "Flush: volume " << volume_name_ << " page " << result.page_index << " writeback failed ("
      << result.failed_blocks.size() << " blocks): " << result.status;
  if (page_events_ == PageEvents::kNone) return;  // the summary counts it
  v1::PageCompletion page;
  page.set_page_index(result.page_index);
  page.set_code(static_cast<int32_t>(result.status.code()));
  if (!result.status.ok()) page.set_message(std::string(result.status.message()));
  for (uint32_t block : result.failed_blocks) page.add_failed_blocks(block);
  {
    absl::MutexLock lock(&mu_);
    if (lifetime_.broken()) return;
    queue_.AddPage(std::move(page));
  }
  MaybeStartSend();
}

void FlushReactor::OnFlushDone(const FlushSummary& summary) {
  v1::FlushSummary out;
  out.set_pages_written(summary.pages_written);
  out.set_pages_failed(summary.pages_failed);
  out.set_code(static_cast<int32_t>(summary.status.code()));
  out.set_message(std::string(summary.status.message()));
  out.set_error_cursor(summary.error_cursor);
  if (summary.status.ok()) {
    VLOG(1) << "Flush: volume " << volume_name_ << ": " << summary.pages_written
            << " pages written";
  } else {
    LOG(WARNING) << "Flush: volume " << volume_name_ << ": " << summary.pages_written
                 << " pages written, " << summary.pages_failed << " failed: " << summary.status;
  }
  lifetime_.RecordError(summary.status);  // the call's status, unless the stream broke
  {
    absl::MutexLock lock(&mu_);
    if (!lifetime_.broken()) queue_.SetSummary(std::move(out));
  }
  MaybeStartSend();
  lifetime_.Release();  // the engine's: it does not touch the observer after this returns
}

void FlushReactor::MaybeStartSend() {
  {
    absl::MutexLock lock(&mu_);
    if (sending_ || lifetime_.broken()) return;
    // The pages queued go in one event when grouped, up to kMaxGroupedEventBytes; the summary
    // (always last) waits for the next.
    if (!queue_.Pop(page_events_ == PageEvents::kGrouped, kMaxGroupedEventBytes, &sending_event_)) {
      return;
    }
    sending_ = true;
  }
  // sending_event_ is only replaced after OnWriteDone clears sending_.
  StartSend(this, &lifetime_, sending_event_, &send_buffer_);
}

void FlushReactor::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    sending_ = false;
  }
  if (!ok) BreakStream();  // the client is gone
  MaybeStartSend();
  lifetime_.Release();  // the send's
}

void FlushReactor::OnCancel() {
  // The flush itself goes on: the engine's writeback is not cancellable, and its result still
  // latches in the volume's error state for the next Flush. OnFlushDone, or a send in flight,
  // finishes the call (CANCELLED).
  BreakStream();
}

void FlushReactor::BreakStream() {
  lifetime_.Break();
  absl::MutexLock lock(&mu_);
  queue_.Clear();
}

void FlushReactor::OnDone() {
  // The place under max_open_streams goes back here, while the server is still up: the reactor
  // may be deleted later, on an engine thread, after the ServiceState is gone.
  open_stream_.GiveBack();
  std::shared_ptr<Volume> volume = std::move(volume_);
  lifetime_.OnDone();
}

}  // namespace blockstore
