#include "server/service/write_pages_reactor.h"

#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/unknown_field_set.h"
#include "server/service/grpc_status.h"
#include "server/service/raw_message.h"
#include "server/service/stream_send.h"

namespace blockstore {

WritePagesReactor::WritePagesReactor(const ServiceState* state, CallAccess access,
                                     StreamSlot open_stream, grpc::CallbackServerContext* context)
    : state_(state),
      access_(std::move(access)),
      open_stream_(std::move(open_stream)),
      start_(absl::Now()),
      deadline_(WriteWaitDeadline(context->deadline())),
      slots_(state->options().write_stream_inflight_max),
      lifetime_(
          [this](const absl::Status& status) {
            state_->ObserveRpc(RpcMethod::kWritePages, status.code(), start_);
            Finish(ToGrpcStatus(status));
          },
          [this] { delete this; }) {
  MaybeStartRead();
  lifetime_.Release();  // the creator's hold
}

void WritePagesReactor::MaybeStartRead() {
  int slot = -1;
  {
    absl::MutexLock lock(&mu_);
    if (reading_slot_ >= 0 || dispatching_ || read_closed_ || lifetime_.broken() ||
        !slots_.any_free()) {
      return;
    }
    slot = slots_.Take();
    reading_slot_ = slot;
  }
  lifetime_.Hold();  // the read's, until OnReadDone returns
  StartRead(&read_buffer_);
}

void WritePagesReactor::OnReadDone(bool ok) {
  int slot;
  std::vector<std::string> released;  // freed outside mu_
  absl::Status parsed;
  if (ok) {
    // The slot is ours (busy) until Give; parsing outside mu_ keeps the lock short.
    int reading;
    {
      absl::MutexLock lock(&mu_);
      reading = reading_slot_;
    }
    parsed = ParseRawRequest(&read_buffer_, &slots_[reading].request);
    // Fields this server does not know are not kept while the write waits in its slot: up to
    // max_message_bytes of them, in each of write_stream_inflight_max slots, would be 256 MiB
    // a stream. Swapped out, not cleared: a cleared set keeps its vector's capacity.
    if (parsed.ok()) {
      google::protobuf::UnknownFieldSet unknown;
      v1::WritePageRequest& request = slots_[reading].request;
      unknown.Swap(request.GetReflection()->MutableUnknownFields(&request));
    }
    if (!parsed.ok()) {
      // Nothing identifies the write to answer: the stream ends with the reason, after the
      // writes before it (the client learns that this one and any later were not taken).
      lifetime_.RecordError(parsed);
      ok = false;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    slot = reading_slot_;
    reading_slot_ = -1;
    if (!ok) {
      // The client closed its side (or the call broke): no more requests.
      read_closed_ = true;
      slots_.Give(slot, &released);
    } else {
      slots_.Filled(slot);
      dispatching_ = true;
    }
  }
  if (ok) {
    Dispatch(slot);
    {
      absl::MutexLock lock(&mu_);
      dispatching_ = false;
    }
    MaybeStartRead();
  }
  lifetime_.Release();  // the read's
}

void WritePagesReactor::Dispatch(int slot) {
  WriteSlots::Slot& s = slots_[slot];
  lifetime_.Hold();  // the write's, until OnWriteComplete's last step
  // The request (and so its data) stays untouched until OnWriteComplete queues the slot.
  state_->Write(access_, s.request, deadline_, &s.volume, &s.response,
                [this, slot](const absl::Status&) { OnWriteComplete(slot); });
}

void WritePagesReactor::OnWriteComplete(int slot) {
  std::vector<std::string> released;  // freed outside mu_
  {
    absl::MutexLock lock(&mu_);
    if (lifetime_.broken()) {
      slots_.Give(slot, &released);  // nobody will read the response
    } else {
      send_queue_.push_back(slot);
    }
  }
  MaybeStartSend();
  // This callback may run on an engine thread, which gRPC does not count: the call cannot
  // finish (and the reactor be deleted) before this, its last use of `this`.
  lifetime_.Release();
}

void WritePagesReactor::MaybeStartSend() {
  int slot = -1;
  bool more_queued = false;
  {
    absl::MutexLock lock(&mu_);
    if (sending_slot_ >= 0 || send_queue_.empty() || lifetime_.broken()) return;
    slot = send_queue_.front();
    send_queue_.pop_front();
    sending_slot_ = slot;
    more_queued = !send_queue_.empty();
  }
  grpc::WriteOptions options;
  // Another response follows at once: let gRPC put both in one transport write.
  if (more_queued) options.set_buffer_hint();
  // send_buffer_ is free: one send at a time (sending_slot_).
  StartSend(this, &lifetime_, slots_[slot].response, &send_buffer_, options);
}

void WritePagesReactor::OnWriteDone(bool ok) {
  std::vector<std::string> released;  // freed outside mu_
  {
    absl::MutexLock lock(&mu_);
    slots_.Give(sending_slot_, &released);
    sending_slot_ = -1;
  }
  if (!ok) BreakStream();  // the client is gone
  MaybeStartSend();
  MaybeStartRead();
  lifetime_.Release();  // the send's
}

void WritePagesReactor::OnCancel() {
  // A pending read or send ends with ok=false and engine writes still call back; the last of
  // them finishes the call (CANCELLED).
  BreakStream();
}

void WritePagesReactor::BreakStream() {
  lifetime_.Break();
  std::vector<std::string> released;  // freed outside mu_ (declared first: destroyed last)
  absl::MutexLock lock(&mu_);
  for (int slot : send_queue_) slots_.Give(slot, &released);
  send_queue_.clear();
}

void WritePagesReactor::OnDone() {
  // The place under max_open_streams goes back here, while the server is still up: the reactor
  // may be deleted later, on an engine thread, after the ServiceState is gone.
  open_stream_.GiveBack();
  // Every hold was released before the call finished: nothing uses the slots any more. Their
  // requests and volumes are freed here, on a gRPC thread, even if the reactor itself is
  // deleted by a finishing engine callback that has not returned yet.
  std::vector<WriteSlots::Slot> slots = slots_.Release();
  lifetime_.OnDone();
}

}  // namespace blockstore
