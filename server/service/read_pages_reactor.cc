#include "server/service/read_pages_reactor.h"

#include <algorithm>
#include <utility>

#include "glog/logging.h"
#include "server/service/grpc_status.h"
#include "server/service/stream_send.h"

namespace blockstore {

ReadPagesReactor::ReadPagesReactor(const ServiceState* state, StreamSlot open_stream,
                                   std::shared_ptr<Volume> volume, uint64_t first_page_index,
                                   uint64_t page_count)
    : state_(state),
      open_stream_(std::move(open_stream)),
      volume_(std::move(volume)),
      start_(absl::Now()),
      slots_(std::max<uint64_t>(
          1, std::min<uint64_t>(state->options().read_stream_readahead_max, page_count))),
      lifetime_(
          [this](const absl::Status& status) {
            state_->ObserveRpc(RpcMethod::kReadPages, status.code(), start_);
            Finish(ToGrpcStatus(status));
          },
          [this] { delete this; }),
      next_read_(first_page_index),
      next_send_(first_page_index),
      stop_page_(first_page_index + page_count) {
  IssueReads();
  lifetime_.Release();  // the creator's hold
}

void ReadPagesReactor::IssueReads() {
  for (;;) {
    uint64_t page;
    {
      absl::MutexLock lock(&mu_);
      if (lifetime_.broken() || next_read_ >= stop_page_ ||
          next_read_ - next_send_ >= slots_.size()) {
        break;
      }
      page = next_read_++;
    }
    lifetime_.Hold();  // the read's, until OnPageRead's last step
    volume_->Read(page, [this, page](absl::StatusOr<absl::string_view> data) {
      OnPageRead(page, std::move(data));
    });
  }
  MaybeStartSend();
}

void ReadPagesReactor::OnPageRead(uint64_t page_index, absl::StatusOr<absl::string_view> data) {
  Slot& slot = SlotFor(page_index);
  if (data.ok()) {
    slot.response.set_page_index(page_index);
    slot.response.set_data(data->data(), data->size());
  } else {
    LOG(WARNING) << "ReadPages: volume " << volume_->config().name << " page " << page_index << ": "
                 << data.status();
  }
  {
    absl::MutexLock lock(&mu_);
    if (data.ok()) {
      slot.ready = true;
    } else if (page_index < stop_page_) {
      stop_page_ = page_index;
      read_error_ = data.status();
    }
  }
  MaybeStartSend();
  // This callback may run on an engine thread, which gRPC does not count: the call cannot
  // finish (and the reactor be deleted) before this, its last use of `this`.
  lifetime_.Release();
}

void ReadPagesReactor::MaybeStartSend() {
  const v1::ReadPageResponse* to_send = nullptr;
  absl::Status stream_status;
  {
    absl::MutexLock lock(&mu_);
    if (sending_ || lifetime_.broken()) return;
    if (next_send_ < stop_page_) {
      Slot& slot = SlotFor(next_send_);
      if (!slot.ready) return;  // its read callback calls MaybeStartSend again
      sending_ = true;
      to_send = &slot.response;
    } else {
      // Every page before stop_page_ was sent, so no earlier page can still fail: read_error_
      // (OK if no page failed) is final.
      stream_status = read_error_;
    }
  }
  if (to_send == nullptr) {
    lifetime_.RecordError(stream_status);
    return;
  }
  StartSend(this, &lifetime_, *to_send, &send_buffer_);
}

void ReadPagesReactor::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    sending_ = false;
    SlotFor(next_send_).ready = false;
    SlotFor(next_send_).response.Clear();
    ++next_send_;
  }
  if (!ok) lifetime_.Break();  // the client is gone
  IssueReads();
  lifetime_.Release();  // the send's
}

void ReadPagesReactor::OnCancel() {
  // Reads in flight still call back, and a send in flight ends with ok=false; the last of
  // them finishes the call (CANCELLED).
  lifetime_.Break();
}

void ReadPagesReactor::OnDone() {
  // The place under max_open_streams goes back here, while the server is still up: the reactor
  // may be deleted later, on an engine thread, after the ServiceState is gone.
  open_stream_.GiveBack();
  // Every hold was released before the call finished. The volume reference and the pages are
  // dropped here, on a gRPC thread, even if the reactor itself is deleted by a finishing read
  // callback that has not returned yet.
  std::shared_ptr<Volume> volume = std::move(volume_);
  std::vector<Slot> slots = std::move(slots_);
  lifetime_.OnDone();
}

}  // namespace blockstore
