#include "server/service/write_pages_reactor.h"

#include <utility>

#include "glog/logging.h"

namespace blockstore {

WritePagesReactor::WritePagesReactor(const ServiceState* state,
                                     grpc::CallbackServerContext* context)
    : state_(state),
      start_(absl::Now()),
      deadline_(WriteWaitDeadline(context->deadline())),
      slots_(state->options().write_stream_inflight_max) {
  {
    absl::MutexLock lock(&mu_);
    free_slots_.reserve(slots_.size());
    for (int i = static_cast<int>(slots_.size()) - 1; i >= 0; --i) free_slots_.push_back(i);
  }
  MaybeStartRead();
}

void WritePagesReactor::MaybeStartRead() {
  int slot = -1;
  {
    absl::MutexLock lock(&mu_);
    if (reading_slot_ >= 0 || read_closed_ || free_slots_.empty()) return;
    slot = free_slots_.back();
    free_slots_.pop_back();
    reading_slot_ = slot;
  }
  StartRead(&slots_[slot].request);
}

void WritePagesReactor::OnReadDone(bool ok) {
  int slot;
  {
    absl::MutexLock lock(&mu_);
    slot = reading_slot_;
    reading_slot_ = -1;
    if (!ok) {
      // The client closed its side (or the call broke): no more requests.
      read_closed_ = true;
      free_slots_.push_back(slot);
    } else {
      ++engine_pending_;
    }
  }
  if (!ok) {
    MaybeFinish();
    return;
  }
  Dispatch(slot);
  MaybeStartRead();
}

void WritePagesReactor::Dispatch(int slot) {
  Slot& s = slots_[slot];
  s.response.Clear();
  s.response.set_request_id(s.request.request_id());
  s.response.set_page_index(s.request.page_index());

  absl::StatusOr<std::shared_ptr<Volume>> volume = state_->AcceptWrite(s.request);
  if (!volume.ok()) {
    OnWriteComplete(slot, volume.status());
    return;
  }
  s.volume = *std::move(volume);
  // The request (and so its data) stays untouched until OnWriteComplete frees the slot.
  s.volume->Write(s.request.page_index(), s.request.offset_bytes(), s.request.data(),
                  s.request.fua(), deadline_,
                  [this, slot](absl::Status write_status) { OnWriteComplete(slot, write_status); });
}

void WritePagesReactor::OnWriteComplete(int slot, const absl::Status& status) {
  Slot& s = slots_[slot];
  if (!status.ok()) {
    s.response.set_code(static_cast<int32_t>(status.code()));
    s.response.set_message(std::string(status.message()));
    VLOG(1) << "WritePages: volume " << s.request.volume() << " page " << s.request.page_index()
            << " request " << s.request.request_id() << ": " << status;
  }
  bool start_read = false;
  {
    absl::MutexLock lock(&mu_);
    --engine_pending_;
    // This callback may run on an engine thread, which gRPC does not count: the call must not
    // finish (and the reactor be deleted) before its last use of `this` below.
    ++callbacks_running_;
    if (!status.ok()) ++failed_writes_;
    if (broken_) {
      // Nobody will read the response; the slot is free at once.
      free_slots_.push_back(slot);
      start_read = true;
    } else {
      send_queue_.push_back(slot);
    }
  }
  if (start_read) {
    MaybeStartRead();
  } else {
    MaybeStartWrite();
  }
  MaybeFinish(/*end_callback=*/true);  // the last use of `this`
}

void WritePagesReactor::MaybeStartWrite() {
  int slot = -1;
  bool more_queued = false;
  {
    absl::MutexLock lock(&mu_);
    if (writing_slot_ >= 0 || send_queue_.empty() || broken_) return;
    slot = send_queue_.front();
    send_queue_.pop_front();
    writing_slot_ = slot;
    more_queued = !send_queue_.empty();
  }
  grpc::WriteOptions options;
  // Another response follows at once: let gRPC put both in one transport write.
  if (more_queued) options.set_buffer_hint();
  StartWrite(&slots_[slot].response, options);
}

void WritePagesReactor::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    free_slots_.push_back(writing_slot_);
    writing_slot_ = -1;
    if (!ok) {
      // The client is gone: drop the queued responses, stop reading.
      broken_ = true;
      read_closed_ = true;
      for (int slot : send_queue_) free_slots_.push_back(slot);
      send_queue_.clear();
    }
  }
  MaybeStartWrite();
  MaybeStartRead();
  MaybeFinish();
}

void WritePagesReactor::OnCancel() {
  {
    absl::MutexLock lock(&mu_);
    broken_ = true;
    read_closed_ = true;
    for (int slot : send_queue_) free_slots_.push_back(slot);
    send_queue_.clear();
  }
  // A pending read or write ends with ok=false and engine callbacks still run; whichever is
  // last finishes the call.
  MaybeFinish();
}

void WritePagesReactor::MaybeFinish(bool end_callback) {
  grpc::Status status;
  {
    absl::MutexLock lock(&mu_);
    if (end_callback) --callbacks_running_;
    if (finished_ || !read_closed_ || reading_slot_ >= 0 || writing_slot_ >= 0 ||
        engine_pending_ > 0 || callbacks_running_ > 0 || !send_queue_.empty()) {
      return;
    }
    finished_ = true;
    if (broken_) {
      status = grpc::Status(grpc::StatusCode::CANCELLED, "the stream was cancelled");
    }
  }
  state_->ObserveRpc(RpcMethod::kWritePages, static_cast<absl::StatusCode>(status.error_code()),
                     start_);
  Finish(status);
}

void WritePagesReactor::OnDone() { delete this; }

}  // namespace blockstore
