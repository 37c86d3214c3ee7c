#include "server/fuzz/service_driver.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "google/protobuf/stubs/common.h"
#include "server/fuzz/fixed_volumes.h"

namespace blockstore {
namespace {

using grpc::StatusCode;

// VolumeInfo.max_message_bytes of the harness's server: the least any server declares (the
// .proto's floor, the largest page and 4 KiB), which the harness sets.
constexpr size_t kProtoMaxMessageBytes = 65536 + 4096;
// ReadPages of more pages is cancelled after this many (a terabyte volume has 2^26).
constexpr uint64_t kMaxReadPages = 64;

std::chrono::system_clock::time_point Deadline() {
  return std::chrono::system_clock::now() + std::chrono::seconds(20);
}

// The codes the .proto lists for each call (its "Status codes" paragraph: the transport's own
// codes are left out, as the fuzzer neither lets a deadline pass nor loses the server; the
// driver adds CANCELLED where it cancels and RESOURCE_EXHAUSTED where a message is too large).
const CodeSet kCreateVolumeCodes = {StatusCode::OK,
                                    StatusCode::INVALID_ARGUMENT,
                                    StatusCode::ALREADY_EXISTS,
                                    StatusCode::RESOURCE_EXHAUSTED,
                                    StatusCode::DATA_LOSS,
                                    StatusCode::UNAVAILABLE};
const CodeSet kDeleteVolumeCodes = {StatusCode::OK, StatusCode::INVALID_ARGUMENT,
                                    StatusCode::NOT_FOUND, StatusCode::UNAVAILABLE,
                                    StatusCode::RESOURCE_EXHAUSTED};
const CodeSet kListVolumesCodes = {StatusCode::OK};
const CodeSet kGetVolumeInfoCodes = {StatusCode::OK, StatusCode::INVALID_ARGUMENT,
                                     StatusCode::NOT_FOUND};
const CodeSet kWriteCodes = {
    StatusCode::OK,           StatusCode::INVALID_ARGUMENT,   StatusCode::NOT_FOUND,
    StatusCode::OUT_OF_RANGE, StatusCode::RESOURCE_EXHAUSTED, StatusCode::DATA_LOSS,
    StatusCode::UNAVAILABLE};
const CodeSet kWriteStreamCodes = {StatusCode::OK, StatusCode::CANCELLED,
                                   StatusCode::RESOURCE_EXHAUSTED, StatusCode::INVALID_ARGUMENT};
const CodeSet kReadCodes = {StatusCode::OK,        StatusCode::INVALID_ARGUMENT,
                            StatusCode::NOT_FOUND, StatusCode::OUT_OF_RANGE,
                            StatusCode::DATA_LOSS, StatusCode::RESOURCE_EXHAUSTED};
const CodeSet kFlushCodes = {StatusCode::OK, StatusCode::DATA_LOSS, StatusCode::RESOURCE_EXHAUSTED,
                             StatusCode::INVALID_ARGUMENT, StatusCode::NOT_FOUND};

// A request for a failure message: its data replaced by its length.
template <typename Request>
std::string Describe(const Request& request) {
  return request.ShortDebugString();
}

std::string Describe(const v1::WritePageRequest& request) {
  v1::WritePageRequest copy = request;
  copy.clear_data();
  return absl::StrCat(copy.ShortDebugString(), " data: ", request.data().size(), " bytes");
}

// A request whose string field (a volume name) is not valid UTF-8 is not a message protobuf
// parses. The server parses requests itself (server/service/raw_message.h): a unary or
// server-streaming call gets INVALID_ARGUMENT like any bad name (what the model expects), and a
// write stream ends INVALID_ARGUMENT at that message, after answering every write before it;
// that write and every later one go unanswered and are not taken. (Before the fix, finding 1 of
// docs/reliability.md: UNIMPLEMENTED, and a stream that ended OK.) protobuf's own check decides.
bool Undecodable(const std::string& name) {
  return !google::protobuf::internal::IsStructurallyValidUTF8(name.data(),
                                                              static_cast<int>(name.size()));
}

// SERVICE_FUZZER_TRACE (ServiceHarness::trace): every checked answer is logged. Set by the
// driver; one input runs at a time.
bool trace_calls = false;

// The call's code is in the .proto's list for it and among `expected`; a refusal says why.
void CheckCode(const char* method, StatusCode code, const std::string& message,
               const CodeSet& documented, const CodeSet& expected, const std::string& request) {
  if (trace_calls) {
    std::fprintf(stderr, "trace: %s %s -> %s %s\n", method, request.c_str(),
                 StatusCodeName(code).c_str(), message.c_str());
  }
  CHECK_NE(code, StatusCode::DEADLINE_EXCEEDED)
      << method << " hung: no answer within 20 s; request: " << request;
  CHECK(documented.Contains(code))
      << method << " answered " << StatusCodeName(code) << " (" << message
      << "), a code the .proto does not list for it; request: " << request;
  CHECK(expected.Contains(code)) << method << " answered " << StatusCodeName(code) << " ("
                                 << message << "), expected " << expected.ToString()
                                 << "; request: " << request;
  CHECK(code == StatusCode::OK || code == StatusCode::UNIMPLEMENTED || !message.empty())
      << method << " answered " << StatusCodeName(code)
      << " without a message; request: " << request;
}

// What `request` may get: its broken rules' codes; RESOURCE_EXHAUSTED alone for a message over
// max_message_bytes (gRPC refuses it before the service sees it); and, if it breaks no rule,
// RESOURCE_EXHAUSTED of the dirty limit too.
CodeSet ExpectedWriteCodes(const VolumeModel& model, const v1::WritePageRequest& request) {
  if (request.ByteSizeLong() > kProtoMaxMessageBytes) return {StatusCode::RESOURCE_EXHAUSTED};
  CodeSet codes = model.ExpectWrite(request);
  if (codes.Contains(StatusCode::OK)) codes.Add(StatusCode::RESOURCE_EXHAUSTED);
  return codes;
}

void CheckInfo(const v1::VolumeInfo& info, const std::string& name, const Geometry& geometry) {
  CHECK_EQ(info.name(), name);
  CHECK_EQ(info.size_bytes(), geometry.size_bytes) << name;
  CHECK_EQ(info.page_size_bytes(), geometry.page_size_bytes) << name;
  CHECK_EQ(info.block_size_bytes(), geometry.block_size_bytes) << name;
  CHECK_EQ(info.page_count(), geometry.page_count()) << name;
  CHECK_EQ(info.max_message_bytes(), kProtoMaxMessageBytes) << name;
  CHECK(!info.io_backend().empty()) << name;
  if (name == kWitnessVolume) {
    // No request ever wrote the witness since its flush: a refused write left something.
    CHECK_EQ(info.dirty_pages(), 0u) << "the witness has dirty pages";
    CHECK_EQ(info.pages_under_writeback(), 0u) << "the witness has pages under writeback";
    CHECK_EQ(info.buffers_under_io(), 0u) << "the witness has buffers under IO";
  }
}

// Applies a stream's writes to the model in the order they were sent (the order the .proto
// says they are taken in): `answer` is each write's code, -1 if it got none; writes from
// `first_untaken` on were never read by the server (not sent, or after a message it refused).
// `call` ("input 12, WritePages") names the call in the write log.
void ApplyStreamWrites(VolumeModel* model, const std::vector<const v1::WritePageRequest*>& writes,
                       const std::vector<int>& answer, size_t first_untaken,
                       const std::string& call) {
  for (size_t i = 0; i < writes.size(); ++i) {
    std::string outcome;
    if (answer[i] == StatusCode::OK) {
      model->ApplyWrite(*writes[i]);
      outcome = "acknowledged";
    } else if (answer[i] >= 0) {
      outcome = absl::StrCat("refused ", StatusCodeName(static_cast<StatusCode>(answer[i])));
    } else if (i < first_untaken) {
      model->ForgetWrite(*writes[i]);
      outcome = "no answer (may land)";
    } else {
      outcome = "not taken (not sent, or after a message the server refused)";
    }
    model->LogWrite(*writes[i],
                    absl::StrCat(call, " write ", i, ": ", Describe(*writes[i]), " -> ", outcome));
  }
}

}  // namespace

ServiceDriver::ServiceDriver(ServiceHarness* harness) : harness_(harness) {
  trace_calls = harness->trace();
}

void ServiceDriver::Note(const std::string& name) {
  if (name == kWitnessVolume) named_witness_ = true;
}

void ServiceDriver::Run(const Op& op) {
  switch (op.kind) {
    case OpKind::kCreateVolume:
      Note(op.create.name());
      CreateVolume(op.create);
      break;
    case OpKind::kDeleteVolume:
      Note(op.volume);
      DeleteVolume(op.volume);
      break;
    case OpKind::kListVolumes:
      ListVolumes();
      break;
    case OpKind::kGetVolumeInfo:
      Note(op.volume);
      GetVolumeInfo(op.volume);
      break;
    case OpKind::kWritePage:
      Note(op.write.volume());
      WritePage(op.write);
      break;
    case OpKind::kWritePages:
      for (const v1::WritePageRequest& write : op.writes) Note(write.volume());
      WritePages(op.writes, op.cancel_after);
      break;
    case OpKind::kWritePageBatches:
      for (const v1::WritePageBatchRequest& batch : op.batches) {
        for (const v1::WritePageRequest& write : batch.writes()) Note(write.volume());
      }
      WritePageBatches(op.batches, op.cancel_after);
      break;
    case OpKind::kReadPage:
      Note(op.read.volume());
      ReadPage(op.read);
      break;
    case OpKind::kReadPages:
      Note(op.read_range.volume());
      ReadPages(op.read_range);
      break;
    case OpKind::kFlush:
      Note(op.flush.volume());
      Flush(op.flush, op.cursor);
      break;
    case OpKind::kCount:
      break;
  }
}

void ServiceDriver::CreateVolume(const v1::CreateVolumeRequest& request) {
  VolumeModel& model = harness_->model();
  CodeSet expected = model.ExpectCreate(request);
  if (expected.Contains(StatusCode::OK)) {
    // A full disk, the control queue or --max_volumes.
    expected.Add(StatusCode::RESOURCE_EXHAUSTED);
    // Past the file system's largest file (ext4: 16 TiB), the .proto's "bad size_bytes".
    if (request.size_bytes() > (uint64_t{1} << 43)) expected.Add(StatusCode::INVALID_ARGUMENT);
  }
  v1::VolumeInfo info;
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  const grpc::Status status = harness_->stub()->CreateVolume(&context, request, &info);
  CheckCode("CreateVolume", status.error_code(), status.error_message(), kCreateVolumeCodes,
            expected, Describe(request));
  if (!status.ok()) return;
  const Geometry geometry{request.size_bytes(),
                          request.page_size_bytes() == 0 ? 4096u : request.page_size_bytes(),
                          request.block_size_bytes() == 0 ? 4096u : request.block_size_bytes()};
  CheckInfo(info, request.name(), geometry);
  CHECK_EQ(info.dirty_pages(), 0u);
  model.Add(request.name(), geometry);
  harness_->flush_cursors().erase(request.name());
}

void ServiceDriver::DeleteVolume(const std::string& name) {
  VolumeModel& model = harness_->model();
  CodeSet expected = model.ExpectVolume(name);
  if (expected.Contains(StatusCode::OK)) expected.Add(StatusCode::RESOURCE_EXHAUSTED);
  v1::DeleteVolumeRequest request;
  request.set_volume(name);
  v1::DeleteVolumeResponse response;
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  const grpc::Status status = harness_->stub()->DeleteVolume(&context, request, &response);
  CheckCode("DeleteVolume", status.error_code(), status.error_message(), kDeleteVolumeCodes,
            expected, Describe(request));
  if (!status.ok()) return;
  model.Remove(name);
  harness_->flush_cursors().erase(name);
}

void ServiceDriver::ListVolumes() {
  const VolumeModel& model = harness_->model();
  v1::ListVolumesRequest request;
  v1::ListVolumesResponse response;
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  const grpc::Status status = harness_->stub()->ListVolumes(&context, request, &response);
  CheckCode("ListVolumes", status.error_code(), status.error_message(), kListVolumesCodes,
            {StatusCode::OK}, "{}");
  const std::vector<std::string> names = model.Names();
  std::vector<std::string> listed;
  for (const v1::VolumeInfo& info : response.volumes()) listed.push_back(info.name());
  CHECK(listed == names) << "ListVolumes lists " << response.volumes_size()
                         << " volumes (sorted by name?), the model holds " << names.size();
  for (const v1::VolumeInfo& info : response.volumes()) {
    CheckInfo(info, info.name(), *model.Find(info.name()));
  }
}

void ServiceDriver::GetVolumeInfo(const std::string& name) {
  const VolumeModel& model = harness_->model();
  v1::GetVolumeInfoRequest request;
  request.set_volume(name);
  v1::VolumeInfo info;
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  const grpc::Status status = harness_->stub()->GetVolumeInfo(&context, request, &info);
  CheckCode("GetVolumeInfo", status.error_code(), status.error_message(), kGetVolumeInfoCodes,
            model.ExpectVolume(name), Describe(request));
  if (status.ok()) CheckInfo(info, name, *model.Find(name));
}

void ServiceDriver::WritePage(const v1::WritePageRequest& request) {
  VolumeModel& model = harness_->model();
  v1::WritePageResponse response;
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  const grpc::Status status = harness_->stub()->WritePage(&context, request, &response);
  CheckCode("WritePage", status.error_code(), status.error_message(), kWriteCodes,
            ExpectedWriteCodes(model, request), Describe(request));
  model.LogWrite(request,
                 absl::StrCat("input ", harness_->inputs() + 1, ", WritePage ", Describe(request),
                              " -> ", StatusCodeName(status.error_code())));
  if (!status.ok()) return;
  CHECK_EQ(response.request_id(), request.request_id()) << Describe(request);
  CHECK_EQ(response.code(), 0) << Describe(request);
  model.ApplyWrite(request);
}

void ServiceDriver::WritePages(const std::vector<v1::WritePageRequest>& writes, int cancel_after) {
  VolumeModel& model = harness_->model();
  const size_t count = writes.size();
  // The first message the server cannot take: over the size limit, or undecodable.
  size_t oversize_at = count;
  size_t undecodable_at = count;
  for (size_t i = 0; i < count && oversize_at == count && undecodable_at == count; ++i) {
    if (writes[i].ByteSizeLong() > kProtoMaxMessageBytes) {
      oversize_at = i;
    } else if (Undecodable(writes[i].volume())) {
      undecodable_at = i;
    }
  }
  const size_t refused_at = std::min(oversize_at, undecodable_at);
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  std::unique_ptr<grpc::ClientReaderWriter<v1::WritePageRequest, v1::WritePageResponse>> stream =
      harness_->stub()->WritePages(&context);
  size_t sent = 0;  // Write() tried: the message may have reached the server
  bool cancelled = false;
  std::thread writer([&] {
    for (size_t i = 0; i < count; ++i) {
      if (static_cast<int>(i) == cancel_after) break;
      ++sent;
      if (!stream->Write(writes[i])) return;
    }
    if (cancel_after >= 0) {
      context.TryCancel();
      cancelled = true;
      return;
    }
    stream->WritesDone();
  });
  std::vector<int> answer(count, -1);
  v1::WritePageResponse response;
  while (stream->Read(&response)) {
    CHECK_LT(response.request_id(), count) << "WritePages answered a request_id never sent";
    const size_t i = response.request_id();
    CHECK_EQ(answer[i], -1) << "WritePages answered write " << i << " twice";
    CHECK_LT(i, refused_at) << "WritePages answered a write sent after a message it could not "
                               "take: "
                            << Describe(writes[i]);
    CHECK_EQ(response.page_index(), writes[i].page_index()) << Describe(writes[i]);
    answer[i] = response.code();
    CheckCode("WritePages (one write)", static_cast<StatusCode>(response.code()),
              response.message(), kWriteCodes, ExpectedWriteCodes(model, writes[i]),
              Describe(writes[i]));
  }
  writer.join();
  const grpc::Status status = stream->Finish();
  const bool oversize_sent = oversize_at < sent;
  const bool undecodable_sent = undecodable_at < sent;
  CodeSet expected = {oversize_sent      ? StatusCode::RESOURCE_EXHAUSTED
                      : undecodable_sent ? StatusCode::INVALID_ARGUMENT
                                         : StatusCode::OK};
  if (cancelled) expected.Add(StatusCode::CANCELLED);
  CheckCode("WritePages", status.error_code(), status.error_message(), kWriteStreamCodes, expected,
            absl::StrCat(count, " writes, cancelled after ", cancel_after));
  // Ended by the server (OK, or at the message it could not parse): every write before that
  // message was answered first.
  if (status.ok() || status.error_code() == StatusCode::INVALID_ARGUMENT) {
    for (size_t i = 0; i < std::min(count, undecodable_at); ++i) {
      CHECK_GE(answer[i], 0) << "WritePages ended OK without answering " << Describe(writes[i]);
    }
  }
  std::vector<const v1::WritePageRequest*> order;
  for (const v1::WritePageRequest& write : writes) order.push_back(&write);
  ApplyStreamWrites(&model, order, answer, std::min(sent, refused_at),
                    absl::StrCat("input ", harness_->inputs() + 1, ", WritePages"));
}

void ServiceDriver::WritePageBatches(const std::vector<v1::WritePageBatchRequest>& batches,
                                     int cancel_after) {
  VolumeModel& model = harness_->model();
  // Every write in sending order; request_id is the position (ServiceProgram numbers them so).
  std::vector<const v1::WritePageRequest*> writes;
  // The writes of the first batch the server cannot take (over the size limit, or
  // undecodable), and all after it.
  size_t first_untaken = SIZE_MAX;
  size_t oversize_batch = batches.size();
  size_t undecodable_batch = batches.size();
  for (size_t b = 0; b < batches.size(); ++b) {
    if (first_untaken == SIZE_MAX) {
      if (batches[b].ByteSizeLong() > kProtoMaxMessageBytes) oversize_batch = b;
      for (const v1::WritePageRequest& write : batches[b].writes()) {
        if (oversize_batch != b && Undecodable(write.volume())) undecodable_batch = b;
      }
      if (oversize_batch == b || undecodable_batch == b) first_untaken = writes.size();
    }
    for (const v1::WritePageRequest& write : batches[b].writes()) {
      CHECK_EQ(write.request_id(), writes.size());
      writes.push_back(&write);
    }
  }
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  std::unique_ptr<grpc::ClientReaderWriter<v1::WritePageBatchRequest, v1::WritePageBatchResponse>>
      stream = harness_->stub()->WritePageBatches(&context);
  size_t sent_batches = 0;
  size_t sent_writes = 0;
  bool cancelled = false;
  std::thread writer([&] {
    for (size_t b = 0; b < batches.size(); ++b) {
      if (static_cast<int>(b) == cancel_after) break;
      ++sent_batches;
      sent_writes += batches[b].writes_size();
      if (!stream->Write(batches[b])) return;
    }
    if (cancel_after >= 0) {
      context.TryCancel();
      cancelled = true;
      return;
    }
    stream->WritesDone();
  });
  std::vector<int> answer(writes.size(), -1);
  v1::WritePageBatchResponse response;
  while (stream->Read(&response)) {
    CHECK_GT(response.results_size(), 0) << "WritePageBatches sent an empty answer";
    for (const v1::WritePageResponse& result : response.results()) {
      CHECK_LT(result.request_id(), writes.size())
          << "WritePageBatches answered a request_id never sent";
      const size_t i = result.request_id();
      CHECK_EQ(answer[i], -1) << "WritePageBatches answered write " << i << " twice";
      CHECK_LT(i, first_untaken) << "WritePageBatches answered a write of a batch it could "
                                    "not take, or after it: "
                                 << Describe(*writes[i]);
      CHECK_EQ(result.page_index(), writes[i]->page_index()) << Describe(*writes[i]);
      answer[i] = result.code();
      // The batch's limit, not the write's own size, is what gRPC enforces here.
      CodeSet expected = model.ExpectWrite(*writes[i]);
      if (expected.Contains(StatusCode::OK)) expected.Add(StatusCode::RESOURCE_EXHAUSTED);
      CheckCode("WritePageBatches (one write)", static_cast<StatusCode>(result.code()),
                result.message(), kWriteCodes, expected, Describe(*writes[i]));
    }
  }
  writer.join();
  const grpc::Status status = stream->Finish();
  const bool oversize_sent = oversize_batch < sent_batches;
  const bool undecodable_sent = undecodable_batch < sent_batches;
  CodeSet expected = {oversize_sent      ? StatusCode::RESOURCE_EXHAUSTED
                      : undecodable_sent ? StatusCode::INVALID_ARGUMENT
                                         : StatusCode::OK};
  if (cancelled) expected.Add(StatusCode::CANCELLED);
  CheckCode("WritePageBatches", status.error_code(), status.error_message(), kWriteStreamCodes,
            expected,
            absl::StrCat(batches.size(), " batches of ", writes.size(), " writes, cancelled after ",
                         cancel_after));
  if (status.ok() || status.error_code() == StatusCode::INVALID_ARGUMENT) {
    for (size_t i = 0; i < std::min(writes.size(), first_untaken); ++i) {
      CHECK_GE(answer[i], 0) << "WritePageBatches ended OK without answering "
                             << Describe(*writes[i]);
    }
  }
  ApplyStreamWrites(&model, writes, answer, std::min(sent_writes, first_untaken),
                    absl::StrCat("input ", harness_->inputs() + 1, ", WritePageBatches"));
}

void ServiceDriver::ReadPage(const v1::ReadPageRequest& request) {
  const VolumeModel& model = harness_->model();
  CodeSet expected = model.ExpectReadPage(request);
  if (expected.Contains(StatusCode::OK)) expected.Add(StatusCode::RESOURCE_EXHAUSTED);
  v1::ReadPageResponse response;
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  const grpc::Status status = harness_->stub()->ReadPage(&context, request, &response);
  CheckCode("ReadPage", status.error_code(), status.error_message(), kReadCodes, expected,
            Describe(request));
  if (!status.ok()) return;
  CHECK_EQ(response.page_index(), request.page_index());
  const std::string wrong =
      model.CheckPage(request.volume(), request.page_index(), response.data());
  if (!wrong.empty()) ReportWrongPage("ReadPage", request.volume(), request.page_index(), wrong);
}

void ServiceDriver::ReadPages(const v1::ReadPagesRequest& request) {
  const VolumeModel& model = harness_->model();
  CodeSet expected = model.ExpectReadPages(request);
  const bool valid = expected.Contains(StatusCode::OK);
  if (valid) expected.Add(StatusCode::RESOURCE_EXHAUSTED);
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  std::unique_ptr<grpc::ClientReader<v1::ReadPageResponse>> reader =
      harness_->stub()->ReadPages(&context, request);
  uint64_t received = 0;
  bool cancelled = false;
  v1::ReadPageResponse page;
  while (reader->Read(&page)) {
    CHECK(valid) << "ReadPages sent a page for a request it must refuse with "
                 << expected.ToString() << ": " << Describe(request);
    CHECK_EQ(page.page_index(), request.first_page_index() + received) << Describe(request);
    const std::string wrong = model.CheckPage(request.volume(), page.page_index(), page.data());
    if (!wrong.empty()) ReportWrongPage("ReadPages", request.volume(), page.page_index(), wrong);
    ++received;
    if (received == kMaxReadPages && !cancelled) {
      context.TryCancel();
      cancelled = true;
    }
  }
  const grpc::Status status = reader->Finish();
  if (cancelled) expected.Add(StatusCode::CANCELLED);
  CodeSet documented = kReadCodes;
  if (cancelled) documented.Add(StatusCode::CANCELLED);
  CheckCode("ReadPages", status.error_code(), status.error_message(), documented, expected,
            Describe(request));
  if (status.ok()) CHECK_EQ(received, request.page_count()) << Describe(request);
}

void ServiceDriver::Flush(v1::FlushRequest request, CursorChoice cursor) {
  const VolumeModel& model = harness_->model();
  const std::string& name = request.volume();
  if (cursor == CursorChoice::kFromInfo && model.Find(name) != nullptr) {
    v1::GetVolumeInfoRequest info_request;
    info_request.set_volume(name);
    v1::VolumeInfo info;
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    const grpc::Status status = harness_->stub()->GetVolumeInfo(&context, info_request, &info);
    CHECK(status.ok()) << "GetVolumeInfo " << name << ": " << status.error_message();
    request.set_error_cursor(info.error_cursor());
  } else if (cursor == CursorChoice::kLastSummary) {
    auto it = harness_->flush_cursors().find(name);
    if (it != harness_->flush_cursors().end()) request.set_error_cursor(it->second);
  }
  CodeSet expected = model.ExpectVolume(name);
  // A cursor this incarnation never issued: DATA_LOSS once (it may come from before a crash).
  const bool foreign_cursor =
      cursor == CursorChoice::kZero || cursor == CursorChoice::kMax || cursor == CursorChoice::kRaw;
  if (expected.Contains(StatusCode::OK) && foreign_cursor) expected.Add(StatusCode::DATA_LOSS);
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  std::unique_ptr<grpc::ClientReader<v1::FlushEvent>> reader =
      harness_->stub()->Flush(&context, request);
  std::set<uint64_t> pages;
  bool has_summary = false;
  v1::FlushSummary summary;
  const Geometry* geometry = model.Find(name);
  auto on_page = [&](const v1::PageCompletion& page) {
    CHECK(geometry != nullptr) << "Flush reported a page of a volume it must refuse: "
                               << Describe(request);
    CHECK_LT(page.page_index(), geometry->page_count()) << Describe(request);
    CHECK(pages.insert(page.page_index()).second)
        << "Flush reported page " << page.page_index() << " twice: " << Describe(request);
    // The fuzzer's disk has no faults.
    CHECK_EQ(page.code(), 0) << "Flush: page " << page.page_index() << ": " << page.message();
  };
  v1::FlushEvent event;
  while (reader->Read(&event)) {
    CHECK(!has_summary) << "Flush sent an event after its summary: " << Describe(request);
    switch (event.event_case()) {
      case v1::FlushEvent::kPage:
        on_page(event.page());
        break;
      case v1::FlushEvent::kPages:
        CHECK(request.group_page_events())
            << "Flush grouped pages without group_page_events: " << Describe(request);
        for (const v1::PageCompletion& page : event.pages().pages()) on_page(page);
        break;
      case v1::FlushEvent::kSummary:
        has_summary = true;
        summary = event.summary();
        break;
      case v1::FlushEvent::EVENT_NOT_SET:
        LOG(FATAL) << "Flush sent an empty event: " << Describe(request);
    }
  }
  const grpc::Status status = reader->Finish();
  CheckCode("Flush", status.error_code(), status.error_message(), kFlushCodes, expected,
            Describe(request));
  if (status.ok()) CHECK(has_summary) << "Flush ended OK without a summary: " << Describe(request);
  if (!has_summary) {
    CHECK(pages.empty()) << "Flush reported pages but no summary: " << Describe(request);
    return;
  }
  CHECK_EQ(summary.code(), status.error_code()) << "the summary's code is not the call's";
  CHECK_EQ(summary.pages_written(), pages.size()) << Describe(request);
  CHECK_EQ(summary.pages_failed(), 0u) << Describe(request);
  harness_->flush_cursors()[name] = summary.error_cursor();
}

void ServiceDriver::ReportWrongPage(const char* method, const std::string& volume, uint64_t page,
                                    const std::string& wrong) {
  // Whether the page stays wrong tells a stale read from lost or misplaced data: read it again,
  // then once more after a flush.
  std::string again;
  for (int round = 0; round < 4; ++round) {
    if (round == 3) {
      v1::FlushRequest flush;
      flush.set_volume(volume);
      grpc::ClientContext context;
      context.set_deadline(Deadline());
      std::unique_ptr<grpc::ClientReader<v1::FlushEvent>> reader =
          harness_->stub()->Flush(&context, flush);
      v1::FlushEvent event;
      while (reader->Read(&event)) {
      }
      absl::StrAppend(&again, "\n  flush: ", StatusCodeName(reader->Finish().error_code()));
    } else {
      absl::SleepFor(absl::Milliseconds(50));
    }
    v1::ReadPageRequest request;
    request.set_volume(volume);
    request.set_page_index(page);
    v1::ReadPageResponse response;
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    const grpc::Status status = harness_->stub()->ReadPage(&context, request, &response);
    const std::string now =
        status.ok() ? harness_->model().CheckPage(volume, page, response.data()) : "";
    absl::StrAppend(&again, "\n  read again: ", StatusCodeName(status.error_code()), " ",
                    now.empty() ? "as expected" : now);
  }
  LOG(FATAL) << method << " (input " << harness_->inputs() + 1 << "): " << wrong << again;
}

void ServiceDriver::CheckWholeVolume(const std::string& name) {
  const Geometry* geometry = harness_->model().Find(name);
  CHECK(geometry != nullptr) << name;
  v1::ReadPagesRequest request;
  request.set_volume(name);
  request.set_first_page_index(0);
  request.set_page_count(std::min<uint64_t>(geometry->page_count(), kMaxReadPages));
  ReadPages(request);
}

void ServiceDriver::CheckWitness() {
  // Against the bytes written before the first input, not the model: a write the server took
  // and the model believed would pass a check against the model.
  const Geometry& geometry = *harness_->model().Find(kWitnessVolume);
  v1::ReadPagesRequest request;
  request.set_volume(kWitnessVolume);
  request.set_first_page_index(0);
  request.set_page_count(geometry.page_count());
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  std::unique_ptr<grpc::ClientReader<v1::ReadPageResponse>> reader =
      harness_->stub()->ReadPages(&context, request);
  uint64_t pages = 0;
  v1::ReadPageResponse page;
  while (reader->Read(&page)) {
    CHECK_EQ(page.page_index(), pages);
    CHECK_EQ(page.data().size(), geometry.page_size_bytes);
    for (uint64_t i = 0; i < page.data().size(); ++i) {
      const uint64_t offset = pages * geometry.page_size_bytes + i;
      const char want = offset < geometry.size_bytes ? WitnessByte(offset) : 0;
      CHECK_EQ(page.data()[i], want) << "the witness changed at byte " << offset;
    }
    ++pages;
  }
  const grpc::Status status = reader->Finish();
  CHECK(status.ok()) << "reading the witness: " << status.error_message();
  CHECK_EQ(pages, geometry.page_count());
  GetVolumeInfo(kWitnessVolume);  // no dirty page, nothing under IO
}

void ServiceDriver::EndInput() {
  VolumeModel& model = harness_->model();
  const uint64_t input = ++harness_->inputs();
  // The input's own volumes go, so every input starts from the same set.
  ListVolumes();
  for (const std::string& name : model.Names()) {
    if (!IsFixedVolume(name)) DeleteVolume(name);
  }
  CHECK_EQ(model.Names().size(), static_cast<size_t>(kFixedVolumeCount));
  // Blocks a write with no answer may have changed: once every call has ended on the server,
  // so that no such write is still parked in the engine (a Flush does not wait for one: it
  // covers acknowledged writes), taken as they read.
  harness_->WaitForCallsToEnd();
  for (const FixedVolume& fixed : kFixedVolumes) {
    const std::vector<uint64_t> unknown = model.UnknownPages(fixed.name);
    if (unknown.empty()) continue;
    for (uint64_t page : unknown) {
      v1::ReadPageRequest request;
      request.set_volume(fixed.name);
      request.set_page_index(page);
      v1::ReadPageResponse response;
      grpc::ClientContext context;
      context.set_deadline(Deadline());
      const grpc::Status status = harness_->stub()->ReadPage(&context, request, &response);
      CHECK(status.ok()) << "ReadPage " << Describe(request) << ": " << status.error_message();
      const std::string wrong = model.CheckPage(fixed.name, page, response.data());
      if (!wrong.empty()) ReportWrongPage("ReadPage", fixed.name, page, wrong);
      model.Adopt(fixed.name, page, response.data());
    }
  }
  if (named_witness_ || input % harness_->check_every() == 0) CheckWitness();
  if (input % harness_->check_every() == 0) {
    CheckWholeVolume(kFixedVolumes[0].name);
    CheckWholeVolume(kFixedVolumes[1].name);
  }
}

}  // namespace blockstore
