#include "server/service/read_page_batches_reactor.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/service/message_limits.h"
#include "server/volume/volume_config.h"

namespace blockstore {
namespace {

// Sets `answer`'s code and message to `status`'s.
void SetStatus(const absl::Status& status, v1::ReadPageResult* answer) {
  answer->set_code(static_cast<int32_t>(status.code()));
  answer->set_message(std::string(status.message()));
}

}  // namespace

ReadPageBatchesReactor::ReadPageBatchesReactor(const ServiceState* state, CallAccess access,
                                               StreamSlot open_stream,
                                               grpc::CallbackServerContext* /*context*/)
    : BatchStreamReactor(
          state, RpcMethod::kReadPageBatches, std::move(access), std::move(open_stream),
          std::min<size_t>(state->options().max_message_bytes, kMinMaxMessageBytes)) {}

int ReadPageBatchesReactor::ItemCount(const v1::ReadPageBatchRequest& request) const {
  return request.reads_size();
}

absl::Status ReadPageBatchesReactor::CheckRequest(const v1::ReadPageBatchRequest& request) const {
  if (request.reads_size() <= kMaxReadsPerBatch) return absl::OkStatus();
  // A read request is a few bytes: without this bound one message could ask for tens of
  // thousands of pages at once, past the stream's bound on reads in flight.
  return absl::InvalidArgumentError(absl::StrCat(
      "reads: ", request.reads_size(), " reads in one message; at most ", kMaxReadsPerBatch));
}

void ReadPageBatchesReactor::StartItem(const v1::ReadPageBatchRequest& request, int index,
                                       std::shared_ptr<Volume>* volume, v1::ReadPageResult* answer,
                                       ItemDone done) {
  const v1::ReadPageRequest& read = request.reads(index);
  answer->set_request_id(read.request_id());
  answer->set_page_index(read.page_index());
  absl::StatusOr<std::shared_ptr<Volume>> found =
      state()->FindVolumeFor(access(), read.volume(), v1::READ);
  absl::Status refused = found.status();
  if (refused.ok()) refused = ValidatePageIndex((*found)->config(), read.page_index());
  if (!refused.ok()) {
    SetStatus(refused, answer);
    done();
    return;
  }
  *volume = *std::move(found);
  (*volume)->Read(read.page_index(), [answer, done](absl::StatusOr<absl::string_view> data) {
    if (data.ok()) {
      answer->set_data(data->data(), data->size());
    } else {
      SetStatus(data.status(), answer);
    }
    done();
  });
}

}  // namespace blockstore
