#include "server/service/read_pages_reactor.h"

#include <algorithm>
#include <string>
#include <utility>

#include "glog/logging.h"
#include "server/service/grpc_status.h"

namespace blockstore {

ReadPagesReactor::ReadPagesReactor(const ServiceState* state, std::shared_ptr<Volume> volume,
                                   uint64_t first_page_index, uint64_t page_count)
    : state_(state),
      volume_(std::move(volume)),
      start_(absl::Now()),
      end_page_(first_page_index + page_count),
      slots_(std::max<uint64_t>(1, std::min<uint64_t>(state->options().read_stream_readahead_max,
                                                      page_count))),
      next_read_(first_page_index),
      next_send_(first_page_index),
      stop_page_(first_page_index + page_count) {
  IssueReads();
}

void ReadPagesReactor::IssueReads() {
  for (;;) {
    uint64_t page;
    {
      absl::MutexLock lock(&mu_);
      if (broken_ || next_read_ >= stop_page_ || next_read_ - next_send_ >= slots_.size()) break;
      page = next_read_++;
      ++reads_pending_;
    }
    volume_->Read(page, [this, page](absl::StatusOr<absl::string_view> data) {
      OnPageRead(page, std::move(data));
    });
  }
  Advance();
}

void ReadPagesReactor::OnPageRead(uint64_t page_index, absl::StatusOr<absl::string_view> data) {
  Slot& slot = SlotFor(page_index);
  if (data.ok()) {
    slot.response.set_page_index(page_index);
    slot.response.set_data(data->data(), data->size());
  } else {
    LOG(WARNING) << "ReadPages: volume " << volume_->config().name << " page " << page_index
                 << ": " << data.status();
  }
  {
    absl::MutexLock lock(&mu_);
    --reads_pending_;
    // This callback may run on an engine thread, which gRPC does not count: the call must not
    // finish (and the reactor be deleted) before Advance's last use of `this`.
    ++callbacks_running_;
    if (data.ok()) {
      slot.ready = true;
    } else if (page_index < stop_page_) {
      stop_page_ = page_index;
      read_error_ = data.status();
    }
  }
  Advance(/*end_callback=*/true);  // the last use of `this`
}

void ReadPagesReactor::Advance(bool end_callback) {
  const v1::ReadPageResponse* to_send = nullptr;
  grpc::Status finish_status;
  bool finish = false;
  {
    absl::MutexLock lock(&mu_);
    if (end_callback) --callbacks_running_;
    if (sending_ || finished_) return;
    if (!broken_ && next_send_ < stop_page_) {
      Slot& slot = SlotFor(next_send_);
      if (!slot.ready) return;  // its read callback calls Advance again
      sending_ = true;
      to_send = &slot.response;
    } else if (reads_pending_ == 0 && callbacks_running_ == 0) {
      finished_ = true;
      finish = true;
      if (broken_) {
        finish_status = grpc::Status(grpc::StatusCode::CANCELLED, "the stream was cancelled");
      } else {
        finish_status = ToGrpcStatus(read_error_);
      }
    } else {
      return;  // the last read callback finishes the call
    }
  }
  if (finish) {
    state_->ObserveRpc(RpcMethod::kReadPages,
                       static_cast<absl::StatusCode>(finish_status.error_code()), start_);
    Finish(finish_status);
    return;
  }
  StartWrite(to_send);
}

void ReadPagesReactor::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    sending_ = false;
    SlotFor(next_send_).ready = false;
    SlotFor(next_send_).response.Clear();
    ++next_send_;
    if (!ok) broken_ = true;
  }
  IssueReads();
}

void ReadPagesReactor::OnCancel() {
  {
    absl::MutexLock lock(&mu_);
    broken_ = true;
  }
  Advance();
}

void ReadPagesReactor::OnDone() { delete this; }

}  // namespace blockstore
