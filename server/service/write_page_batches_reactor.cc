#include "server/service/write_page_batches_reactor.h"

#include <string>
#include <utility>

#include "glog/logging.h"

namespace blockstore {
namespace {

// Answered batches kept for reuse as read buffers: enough for the usual one or two in flight,
// few enough that an idle stream does not hold much memory.
constexpr size_t kSpareBatches = 4;

}  // namespace

WritePageBatchesReactor::WritePageBatchesReactor(const ServiceState* state,
                                                 grpc::CallbackServerContext* context)
    : state_(state),
      start_(absl::Now()),
      deadline_(WriteWaitDeadline(context->deadline())),
      inflight_max_(state->options().write_stream_inflight_max) {
  MaybeStartRead();
}

WritePageBatchesReactor::~WritePageBatchesReactor() = default;

void WritePageBatchesReactor::MaybeStartRead() {
  Batch* batch = nullptr;
  std::vector<std::unique_ptr<Batch>> trimmed;  // freed outside mu_, on this gRPC thread
  {
    absl::MutexLock lock(&mu_);
    while (spare_.size() > kSpareBatches) {
      trimmed.push_back(std::move(spare_.back()));
      spare_.pop_back();
    }
    if (reading_ != nullptr || read_closed_ || unanswered_ >= inflight_max_) return;
    if (spare_.empty()) {
      reading_ = std::make_unique<Batch>();
    } else {
      reading_ = std::move(spare_.back());
      spare_.pop_back();
    }
    batch = reading_.get();
  }
  // Reusing the batch keeps the request's allocated writes; the volume references it held go
  // here, on a gRPC thread.
  batch->volumes.clear();
  batch->request.Clear();
  StartRead(&batch->request);
}

void WritePageBatchesReactor::OnReadDone(bool ok) {
  std::unique_ptr<Batch> batch;
  {
    absl::MutexLock lock(&mu_);
    batch = std::move(reading_);
    if (!ok) {
      // The client closed its side (or the call broke): no more requests.
      read_closed_ = true;
      spare_.push_back(std::move(batch));
    } else if (batch->request.writes_size() == 0) {
      spare_.push_back(std::move(batch));  // an empty batch is answered by nothing
    } else {
      unanswered_ += batch->request.writes_size();
      batch->unanswered = batch->request.writes_size() + 1;  // + Dispatch's own hold
      batch->dispatching = true;
      ++live_batches_;
    }
  }
  if (batch != nullptr) Dispatch(batch.release());  // owned by the reactor until retired
  if (!ok) {
    MaybeFinish();
    return;
  }
  MaybeStartRead();
}

void WritePageBatchesReactor::Dispatch(Batch* batch) {
  const int count = batch->request.writes_size();
  batch->volumes.reserve(count);
  for (int i = 0; i < count; ++i) {
    const v1::WritePageRequest& write = batch->request.writes(i);
    absl::StatusOr<std::shared_ptr<Volume>> volume = state_->AcceptWrite(write);
    if (!volume.ok()) {
      OnWriteComplete(batch, i, volume.status());
      continue;
    }
    batch->volumes.push_back(*std::move(volume));
    // The batch (and so `write.data()`) stays untouched until its last write is answered.
    batch->volumes.back()->Write(
        write.page_index(), write.offset_bytes(), write.data(), write.fua(), deadline_,
        [this, batch, i](absl::Status status) { OnWriteComplete(batch, i, status); });
  }
  {
    absl::MutexLock lock(&mu_);
    batch->dispatching = false;
    ReleaseBatchLocked(batch);  // Dispatch's hold
  }
  MaybeStartWrite();
  MaybeFinish();
}

void WritePageBatchesReactor::OnWriteComplete(Batch* batch, int index,
                                              const absl::Status& status) {
  const v1::WritePageRequest& write = batch->request.writes(index);
  if (!status.ok()) {
    VLOG(1) << "WritePageBatches: volume " << write.volume() << " page " << write.page_index()
            << " request " << write.request_id() << ": " << status;
  }
  bool inside_dispatch;
  {
    absl::MutexLock lock(&mu_);
    if (broken_) {
      --unanswered_;  // nobody will read the result
    } else {
      v1::WritePageResponse* result = outbox_.add_results();
      result->set_request_id(write.request_id());
      result->set_page_index(write.page_index());
      if (!status.ok()) {
        result->set_code(static_cast<int32_t>(status.code()));
        result->set_message(std::string(status.message()));
      }
    }
    inside_dispatch = batch->dispatching;
    // This callback may run on an engine thread, which gRPC does not count: the call must not
    // finish (and the reactor be deleted) before its last use of `this` below. Taken before
    // the batch is released, while live_batches_ still holds the call open.
    ++callbacks_running_;
    ReleaseBatchLocked(batch);
  }
  // Inside Dispatch the results of one batch are gathered and sent once, at its end.
  if (!inside_dispatch) MaybeStartWrite();
  MaybeFinish(/*end_callback=*/true);  // the last use of `this`
}

void WritePageBatchesReactor::ReleaseBatchLocked(Batch* batch) {
  if (--batch->unanswered > 0) return;
  --live_batches_;
  spare_.emplace_back(batch);  // freed or reused on a gRPC thread (MaybeStartRead, OnDone)
}

void WritePageBatchesReactor::MaybeStartWrite() {
  {
    absl::MutexLock lock(&mu_);
    if (writing_ || broken_ || outbox_.results_size() == 0) return;
    writing_ = true;
    sending_.Swap(&outbox_);
    outbox_.Clear();  // keeps the allocated results for reuse
  }
  StartWrite(&sending_);
}

void WritePageBatchesReactor::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    unanswered_ -= sending_.results_size();
    if (!ok) BreakLocked();  // the client is gone
  }
  MaybeStartWrite();
  MaybeStartRead();
  MaybeFinish();
}

void WritePageBatchesReactor::OnCancel() {
  {
    absl::MutexLock lock(&mu_);
    BreakLocked();
  }
  // A pending read or write ends with ok=false and engine callbacks still run; whichever is
  // last finishes the call.
  MaybeFinish();
}

void WritePageBatchesReactor::BreakLocked() {
  broken_ = true;
  read_closed_ = true;
  unanswered_ -= outbox_.results_size();
  outbox_.Clear();
}

void WritePageBatchesReactor::MaybeFinish(bool end_callback) {
  grpc::Status status;
  {
    absl::MutexLock lock(&mu_);
    if (end_callback) --callbacks_running_;
    if (finished_ || !read_closed_ || reading_ != nullptr || writing_ || live_batches_ > 0 ||
        callbacks_running_ > 0 || outbox_.results_size() > 0) {
      return;
    }
    finished_ = true;
    if (broken_) {
      status = grpc::Status(grpc::StatusCode::CANCELLED, "the stream was cancelled");
    }
  }
  state_->ObserveRpc(RpcMethod::kWritePageBatches,
                     static_cast<absl::StatusCode>(status.error_code()), start_);
  Finish(status);
}

void WritePageBatchesReactor::OnDone() { delete this; }

}  // namespace blockstore
