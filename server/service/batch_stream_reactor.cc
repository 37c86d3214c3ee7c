#include "server/service/batch_stream_reactor.h"

#include <utility>

#include "server/service/grpc_status.h"
#include "server/service/message_limits.h"
#include "server/service/raw_message.h"
#include "server/service/stream_send.h"

namespace blockstore {
namespace {

// Answered batches kept for reuse as read buffers: enough for the usual one or two in flight,
// few enough that an idle stream does not hold much memory.
constexpr size_t kSpareBatches = 4;
// A batch whose footprint is larger is freed, not kept: a reused request keeps the capacity of
// what it held, which the stream would keep while it idles.
constexpr size_t kSpareBatchMaxBytes = kMinMaxMessageBytes;

// Encoding overhead of one result in a response message beyond its fields' ByteSizeLong (the
// field tag and the length prefix).
constexpr size_t kResultFraming = 6;

// How many of `outbox`'s oldest results go in one message of at most `message_max_bytes`
// encoded: at least one, so a client's receive limit is never the reason a stream breaks.
template <typename Response>
int ResultsThatFit(const Response& outbox, size_t message_max_bytes) {
  size_t bytes = 0;
  int taken = 0;
  while (taken < outbox.results_size()) {
    const size_t next = outbox.results(taken).ByteSizeLong() + kResultFraming;
    if (taken > 0 && bytes + next > message_max_bytes) break;
    bytes += next;
    ++taken;
  }
  return taken;
}

}  // namespace

template <typename Request, typename Response>
BatchStreamReactor<Request, Response>::BatchStreamReactor(const ServiceState* state,
                                                          RpcMethod method, CallAccess access,
                                                          StreamSlot open_stream,
                                                          size_t message_max_bytes)
    : state_(state),
      access_(std::move(access)),
      open_stream_(std::move(open_stream)),
      start_(absl::Now()),
      inflight_max_(state->options().write_stream_inflight_max),
      held_bytes_max_(state->options().batch_stream_held_bytes_max),
      message_max_bytes_(message_max_bytes),
      lifetime_(
          [this, method](const absl::Status& status) {
            state_->ObserveRpc(method, status.code(), start_);
            Finish(ToGrpcStatus(status));
          },
          [this] { delete this; }) {
  MaybeStartRead();
  lifetime_.Release();  // the creator's hold
}

template <typename Request, typename Response>
BatchStreamReactor<Request, Response>::~BatchStreamReactor() = default;

template <typename Request, typename Response>
void BatchStreamReactor<Request, Response>::MaybeStartRead() {
  Batch* batch = nullptr;
  std::vector<std::unique_ptr<Batch>> trimmed;  // freed outside mu_, on this gRPC thread
  {
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < spare_.size();) {
      if (spare_.size() > kSpareBatches || spare_[i]->footprint > kSpareBatchMaxBytes) {
        trimmed.push_back(std::move(spare_[i]));
        spare_.erase(spare_.begin() + i);
      } else {
        ++i;
      }
    }
    if (reading_ != nullptr || dispatching_ || read_closed_ || lifetime_.broken() ||
        unanswered_ >= inflight_max_ || held_bytes_ >= held_bytes_max_) {
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
  // Reusing the batch keeps the request's allocated items; the volume references it held go
  // here, on a gRPC thread.
  batch->volumes.clear();
  batch->request.Clear();
  lifetime_.Hold();  // the gRPC read's, until OnReadDone returns
  StartRead(&read_buffer_);
}

template <typename Request, typename Response>
void BatchStreamReactor<Request, Response>::OnReadDone(bool ok) {
  std::unique_ptr<Batch> batch;
  if (ok) {
    Batch* reading;
    {
      absl::MutexLock lock(&mu_);
      reading = reading_.get();
    }
    absl::Status parsed = ParseRawRequest(&read_buffer_, &reading->request);
    // What the batch holds, not the message's size on the wire: unknown fields and items
    // left from earlier messages count too.
    reading->footprint = reading->request.SpaceUsedLong() + reading->answers.SpaceUsedLong();
    if (parsed.ok()) parsed = CheckRequest(reading->request);
    if (!parsed.ok()) {
      // None of the batch's items is taken; the stream ends with the reason once the items
      // before it are answered.
      lifetime_.RecordError(parsed);
      ok = false;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    batch = std::move(reading_);
    const int count = ok ? ItemCount(batch->request) : 0;
    if (!ok) {
      // The client closed its side (or the call broke): no more requests.
      read_closed_ = true;
      spare_.push_back(std::move(batch));
    } else if (count == 0) {
      spare_.push_back(std::move(batch));  // an empty batch is answered by nothing
    } else {
      unanswered_ += count;
      held_bytes_ += batch->footprint;
      batch->unanswered = count + 1;  // + Dispatch's own hold
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
  lifetime_.Release();  // the gRPC read's
}

template <typename Request, typename Response>
void BatchStreamReactor<Request, Response>::Dispatch(Batch* batch) {
  const int count = ItemCount(batch->request);
  batch->volumes.resize(count);
  // Every answer exists before the first item goes out: the callbacks touch only their own.
  // Clear() keeps the allocated results, so a reused batch allocates none.
  batch->answers.Clear();
  for (int i = 0; i < count; ++i) batch->answers.add_results();
  for (int i = 0; i < count; ++i) {
    Result* answer = batch->answers.mutable_results(i);
    lifetime_.Hold();  // the item's, until OnItemDone's last step
    // The batch (and so the item's data) stays untouched until its last item is answered.
    StartItem(batch->request, i, &batch->volumes[i], answer, ItemDone(this, batch, answer));
  }
  {
    absl::MutexLock lock(&mu_);
    batch->dispatching = false;
    ReleaseBatchLocked(batch);  // Dispatch's hold
  }
  MaybeStartSend();
}

template <typename Request, typename Response>
void BatchStreamReactor<Request, Response>::OnItemDone(Batch* batch, Result* answer) {
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

template <typename Request, typename Response>
void BatchStreamReactor<Request, Response>::ReleaseBatchLocked(Batch* batch) {
  if (--batch->unanswered > 0) return;
  held_bytes_ -= batch->footprint;
  spare_.emplace_back(batch);  // freed or reused on a gRPC thread (MaybeStartRead, OnDone)
}

template <typename Request, typename Response>
void BatchStreamReactor<Request, Response>::MaybeStartSend() {
  {
    absl::MutexLock lock(&mu_);
    if (sending_ || lifetime_.broken() || outbox_.results_size() == 0) return;
    sending_ = true;
    const int taken = message_max_bytes_ == kUnboundedMessages
                          ? outbox_.results_size()
                          : ResultsThatFit(outbox_, message_max_bytes_);
    if (taken == outbox_.results_size()) {
      sending_response_.Swap(&outbox_);
      outbox_.Clear();  // keeps the allocated results for reuse
    } else {
      sending_response_.Clear();
      for (int i = 0; i < taken; ++i) {
        sending_response_.add_results()->Swap(outbox_.mutable_results(i));
      }
      outbox_.mutable_results()->DeleteSubrange(0, taken);
    }
  }
  StartSend(this, &lifetime_, sending_response_, &send_buffer_);
}

template <typename Request, typename Response>
void BatchStreamReactor<Request, Response>::OnWriteDone(bool ok) {
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

template <typename Request, typename Response>
void BatchStreamReactor<Request, Response>::OnCancel() {
  // A pending read or send ends with ok=false and engine items still call back; the last of
  // them finishes the call (CANCELLED).
  BreakStream();
}

template <typename Request, typename Response>
void BatchStreamReactor<Request, Response>::BreakStream() {
  lifetime_.Break();
  absl::MutexLock lock(&mu_);
  unanswered_ -= outbox_.results_size();
  outbox_.Clear();
}

template <typename Request, typename Response>
void BatchStreamReactor<Request, Response>::OnDone() {
  // The place under max_open_streams goes back here, while the server is still up: the reactor
  // may be deleted later, on an engine thread, after the ServiceState is gone.
  open_stream_.GiveBack();
  // Every item was answered before the call finished, so every batch is retired: they (and
  // the volume references they hold) are freed here, on a gRPC thread, even if the reactor
  // itself is deleted by a finishing engine callback that has not returned yet.
  std::vector<std::unique_ptr<Batch>> batches;
  {
    absl::MutexLock lock(&mu_);
    batches = std::move(spare_);
  }
  lifetime_.OnDone();
}

template class BatchStreamReactor<v1::WritePageBatchRequest, v1::WritePageBatchResponse>;
template class BatchStreamReactor<v1::ReadPageBatchRequest, v1::ReadPageBatchResponse>;

}  // namespace blockstore
