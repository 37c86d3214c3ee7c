#include "server/service/read_page_batches_reactor.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/service/grpc_status.h"
#include "server/service/raw_message.h"
#include "server/volume/volume_config.h"

namespace blockstore {
namespace {

// Answered batches kept for reuse as read buffers (as in WritePageBatchesReactor).
constexpr size_t kSpareBatches = 4;

// Encoding overhead of one result in a response message beyond its fields' ByteSizeLong (the
// field tag and the length prefix).
constexpr size_t kResultFraming = 6;

}  // namespace

ReadPageBatchesReactor::ReadPageBatchesReactor(const ServiceState* state, CallAccess access,
                                               StreamSlot open_stream,
                                               grpc::CallbackServerContext* /*context*/)
    : state_(state),
      access_(std::move(access)),
      open_stream_(std::move(open_stream)),
      start_(absl::Now()),
      inflight_max_(state->options().write_stream_inflight_max),
      message_max_bytes_(state->options().max_message_bytes),
      lifetime_(
          [this](const absl::Status& status) {
            state_->ObserveRpc(RpcMethod::kReadPageBatches, status.code(), start_);
            Finish(ToGrpcStatus(status));
          },
          [this] { delete this; }) {
  MaybeStartRead();
  lifetime_.Release();  // the creator's hold
}

ReadPageBatchesReactor::~ReadPageBatchesReactor() = default;

void ReadPageBatchesReactor::MaybeStartRead() {
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
  batch->volumes.clear();
  batch->request.Clear();
  lifetime_.Hold();  // the gRPC read's, until OnReadDone returns
  StartRead(&read_buffer_);
}

void ReadPageBatchesReactor::OnReadDone(bool ok) {
  std::unique_ptr<Batch> batch;
  if (ok) {
    Batch* reading;
    {
      absl::MutexLock lock(&mu_);
      reading = reading_.get();
    }
    absl::Status parsed = ParseRawRequest(&read_buffer_, &reading->request);
    if (parsed.ok() && reading->request.reads_size() > kMaxReadsPerBatch) {
      // A read request is a few bytes: without this bound one message could ask for tens of
      // thousands of pages at once, past the stream's bound on reads in flight.
      parsed = absl::InvalidArgumentError(absl::StrCat("reads: ", reading->request.reads_size(),
                                                       " reads in one message; at most ",
                                                       kMaxReadsPerBatch));
    }
    if (!parsed.ok()) {
      // None of the batch's reads is taken; the stream ends with the reason once the reads
      // before it are answered.
      lifetime_.RecordError(parsed);
      ok = false;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    batch = std::move(reading_);
    if (!ok) {
      read_closed_ = true;  // the client closed its side (or the call broke)
      spare_.push_back(std::move(batch));
    } else if (batch->request.reads_size() == 0) {
      spare_.push_back(std::move(batch));  // an empty batch is answered by nothing
    } else {
      unanswered_ += batch->request.reads_size();
      batch->unanswered = batch->request.reads_size() + 1;  // + Dispatch's own hold
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

void ReadPageBatchesReactor::Dispatch(Batch* batch) {
  const int count = batch->request.reads_size();
  batch->volumes.resize(count);
  batch->answers.Clear();
  for (int i = 0; i < count; ++i) batch->answers.add_results();
  for (int i = 0; i < count; ++i) {
    const v1::ReadPageRequest& read = batch->request.reads(i);
    v1::ReadPageResult* answer = batch->answers.mutable_results(i);
    answer->set_request_id(read.request_id());
    answer->set_page_index(read.page_index());
    lifetime_.Hold();  // the read's, until OnPageRead's last step
    absl::StatusOr<std::shared_ptr<Volume>> volume =
        state_->FindVolumeFor(access_, read.volume(), v1::READ);
    absl::Status refused = volume.status();
    if (refused.ok()) refused = ValidatePageIndex((*volume)->config(), read.page_index());
    if (!refused.ok()) {
      answer->set_code(static_cast<int32_t>(refused.code()));
      answer->set_message(std::string(refused.message()));
      OnPageRead(batch, answer);
      continue;
    }
    batch->volumes[i] = *std::move(volume);
    batch->volumes[i]->Read(read.page_index(),
                            [this, batch, answer](absl::StatusOr<absl::string_view> data) {
                              if (data.ok()) {
                                answer->set_data(data->data(), data->size());
                              } else {
                                answer->set_code(static_cast<int32_t>(data.status().code()));
                                answer->set_message(std::string(data.status().message()));
                              }
                              OnPageRead(batch, answer);
                            });
  }
  {
    absl::MutexLock lock(&mu_);
    batch->dispatching = false;
    ReleaseBatchLocked(batch);  // Dispatch's hold
  }
  MaybeStartSend();
}

void ReadPageBatchesReactor::OnPageRead(Batch* batch, v1::ReadPageResult* answer) {
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
  // Inside Dispatch the results of one batch are gathered and sent at its end.
  if (!inside_dispatch) MaybeStartSend();
  // This callback may run on an engine thread, which gRPC does not count: the call cannot
  // finish (and the reactor be deleted) before this, its last use of `this`.
  lifetime_.Release();
}

void ReadPageBatchesReactor::ReleaseBatchLocked(Batch* batch) {
  if (--batch->unanswered > 0) return;
  spare_.emplace_back(batch);  // freed or reused on a gRPC thread (MaybeStartRead, OnDone)
}

void ReadPageBatchesReactor::MaybeStartSend() {
  {
    absl::MutexLock lock(&mu_);
    if (sending_ || lifetime_.broken() || outbox_.results_size() == 0) return;
    sending_ = true;
    // The oldest results, up to max_message_bytes encoded (at least one), so a client's
    // receive limit is never the reason a stream breaks.
    size_t bytes = 0;
    int taken = 0;
    while (taken < outbox_.results_size()) {
      const size_t next = outbox_.results(taken).ByteSizeLong() + kResultFraming;
      if (taken > 0 && bytes + next > message_max_bytes_) break;
      bytes += next;
      ++taken;
    }
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

void ReadPageBatchesReactor::OnWriteDone(bool ok) {
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

void ReadPageBatchesReactor::OnCancel() { BreakStream(); }

void ReadPageBatchesReactor::BreakStream() {
  lifetime_.Break();
  absl::MutexLock lock(&mu_);
  unanswered_ -= outbox_.results_size();
  outbox_.Clear();
}

void ReadPageBatchesReactor::OnDone() {
  // As WritePageBatchesReactor::OnDone: the stream's place goes back now, and every batch
  // (retired, since every read was answered) is freed here, on a gRPC thread.
  open_stream_.GiveBack();
  std::vector<std::unique_ptr<Batch>> batches;
  {
    absl::MutexLock lock(&mu_);
    batches = std::move(spare_);
  }
  lifetime_.OnDone();
}

}  // namespace blockstore
