#include "server/service/write_page_batches_reactor.h"

#include <utility>

#include "server/service/grpc_status.h"
#include "server/service/raw_message.h"

namespace blockstore {
namespace {

// Answered batches kept for reuse as read buffers: enough for the usual one or two in flight,
// few enough that an idle stream does not hold much memory.
constexpr size_t kSpareBatches = 4;

}  // namespace

WritePageBatchesReactor::WritePageBatchesReactor(const ServiceState* state, CallAccess access,
                                                 StreamSlot open_stream,
                                                 grpc::CallbackServerContext* context)
    : state_(state),
      access_(std::move(access)),
      open_stream_(std::move(open_stream)),
      start_(absl::Now()),
      deadline_(WriteWaitDeadline(context->deadline())),
      inflight_max_(state->options().write_stream_inflight_max),
      lifetime_(
          [this](const absl::Status& status) {
            state_->ObserveRpc(RpcMethod::kWritePageBatches, status.code(), start_);
            Finish(ToGrpcStatus(status));
          },
          [this] { delete this; }) {
  MaybeStartRead();
  lifetime_.Release();  // the creator's hold
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
    if (reading_ != nullptr || dispatching_ || read_closed_ || lifetime_.broken() ||
        unanswered_ >= inflight_max_) {
      return;
    }
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
  lifetime_.Hold();  // the read's, until OnReadDone returns
  StartRead(&read_buffer_);
}

void WritePageBatchesReactor::OnReadDone(bool ok) {
  std::unique_ptr<Batch> batch;
  if (ok) {
    Batch* reading;
    {
      absl::MutexLock lock(&mu_);
      reading = reading_.get();
    }
    const absl::Status parsed = ParseRawRequest(&read_buffer_, &reading->request);
    if (!parsed.ok()) {
      // No write of the batch is taken; the stream ends with the reason once the writes
      // before it are answered.
      lifetime_.RecordError(parsed);
      ok = false;
    }
  }
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
      dispatching_ = true;
    }
  }
  if (batch != nullptr) {
    Dispatch(batch.release());  // owned by the reactor until retired
    absl::MutexLock lock(&mu_);
    dispatching_ = false;
  }
  if (ok) MaybeStartRead();
  lifetime_.Release();  // the read's
}

void WritePageBatchesReactor::Dispatch(Batch* batch) {
  const int count = batch->request.writes_size();
  batch->volumes.resize(count);
  // Every answer exists before the first write goes out: the callbacks touch only their own.
  // Clear() keeps the allocated results, so a reused batch allocates none.
  batch->answers.Clear();
  for (int i = 0; i < count; ++i) batch->answers.add_results();
  for (int i = 0; i < count; ++i) {
    v1::WritePageResponse* answer = batch->answers.mutable_results(i);
    lifetime_.Hold();  // the write's, until OnWriteComplete's last step
    // The batch (and so the write's data) stays untouched until its last write is answered.
    state_->Write(access_, batch->request.writes(i), deadline_, &batch->volumes[i], answer,
                  [this, batch, answer](const absl::Status&) { OnWriteComplete(batch, answer); });
  }
  {
    absl::MutexLock lock(&mu_);
    batch->dispatching = false;
    ReleaseBatchLocked(batch);  // Dispatch's hold
  }
  MaybeStartSend();
}

void WritePageBatchesReactor::OnWriteComplete(Batch* batch, v1::WritePageResponse* answer) {
  bool inside_dispatch;
  {
    absl::MutexLock lock(&mu_);
    if (lifetime_.broken()) {
      --unanswered_;  // nobody will read the result
    } else {
      outbox_.add_results()->Swap(answer);
    }
    inside_dispatch = batch->dispatching;
    ReleaseBatchLocked(batch);
  }
  // Inside Dispatch the results of one batch are gathered and sent once, at its end.
  if (!inside_dispatch) MaybeStartSend();
  // This callback may run on an engine thread, which gRPC does not count: the call cannot
  // finish (and the reactor be deleted) before this, its last use of `this`.
  lifetime_.Release();
}

void WritePageBatchesReactor::ReleaseBatchLocked(Batch* batch) {
  if (--batch->unanswered > 0) return;
  spare_.emplace_back(batch);  // freed or reused on a gRPC thread (MaybeStartRead, OnDone)
}

void WritePageBatchesReactor::MaybeStartSend() {
  {
    absl::MutexLock lock(&mu_);
    if (sending_ || lifetime_.broken() || outbox_.results_size() == 0) return;
    sending_ = true;
    sending_response_.Swap(&outbox_);
    outbox_.Clear();  // keeps the allocated results for reuse
  }
  lifetime_.Hold();  // the send's, until OnWriteDone returns
  const absl::Status serialized = SerializeRawResponse(sending_response_, &send_buffer_);
  if (!serialized.ok()) {
    lifetime_.RecordError(serialized);
    BreakStream();
    OnWriteDone(true);  // counts the results as answered and gives the send's hold back
    return;
  }
  StartWrite(&send_buffer_);
}

void WritePageBatchesReactor::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    sending_ = false;
    unanswered_ -= sending_response_.results_size();
  }
  if (!ok) BreakStream();  // the client is gone
  MaybeStartSend();
  MaybeStartRead();
  lifetime_.Release();  // the send's
}

void WritePageBatchesReactor::OnCancel() {
  // A pending read or send ends with ok=false and engine writes still call back; the last of
  // them finishes the call (CANCELLED).
  BreakStream();
}

void WritePageBatchesReactor::BreakStream() {
  lifetime_.Break();
  absl::MutexLock lock(&mu_);
  unanswered_ -= outbox_.results_size();
  outbox_.Clear();
}

void WritePageBatchesReactor::OnDone() {
  // The place under max_open_streams goes back here, while the server is still up: the reactor
  // may be deleted later, on an engine thread, after the ServiceState is gone.
  open_stream_.GiveBack();
  // Every write was answered before the call finished, so every batch is retired: they (and
  // the volume references they hold) are freed here, on a gRPC thread, even if the reactor
  // itself is deleted by a finishing engine callback that has not returned yet.
  std::vector<std::unique_ptr<Batch>> batches;
  {
    absl::MutexLock lock(&mu_);
    batches = std::move(spare_);
  }
  lifetime_.OnDone();
}

}  // namespace blockstore
