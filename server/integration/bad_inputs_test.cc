// Every bad input of issue 3 against the real blockstored, on both stores (store_test_fixture.h):
// each gets its status code, with a message naming the field, and leaves the volume (its data,
// its dirty pages, the data directory or the pool's images) unchanged. And one bad write on a
// WritePages or WritePageBatches stream (or in a batch) fails that write only.

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/block_client.h"
#include "gtest/gtest.h"
#include "server/integration/store_test_fixture.h"
#include "server/service/testing/write_page_request.h"

namespace blockstore {
namespace {

constexpr uint32_t kPageSize = 16384;
constexpr uint32_t kBlockSize = 4096;
// 8 whole pages and a last page of 8 KiB: 9 pages.
constexpr uint64_t kVolumeBytes = 8 * kPageSize + 8192;
constexpr uint64_t kPages = 9;

class BadInputsTest : public BlockstoredStoreTest {
 protected:
  void SetUp() override {
    BlockstoredStoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_TRUE(client_->CreateVolume("vol", kVolumeBytes, kPageSize, kBlockSize).ok());
    for (uint64_t page = 0; page < kPages; ++page) {
      const size_t length = page + 1 < kPages ? kPageSize : 8192;
      ASSERT_TRUE(client_->WritePage("vol", page, 0, Pattern(length, page)).ok());
    }
    ASSERT_TRUE(client_->Flush("vol").ok());
  }

  v1::BlockStore::Stub* stub() { return client_->stub(); }
};

struct BadCall {
  std::string what;
  std::function<grpc::Status(v1::BlockStore::Stub*)> call;
  grpc::StatusCode code;
  std::string field;  // the message starts with "field:"; empty: not checked
};

grpc::Status Write(v1::BlockStore::Stub* stub, const std::string& volume, uint64_t page,
                   uint32_t offset, size_t length) {
  const v1::WritePageRequest request =
      TestWritePageRequest(volume, page, offset, std::string(length, 'X'));
  v1::WritePageResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return stub->WritePage(&context, request, &response);
}

grpc::Status Create(v1::BlockStore::Stub* stub, const std::string& name, uint64_t size,
                    uint32_t page, uint32_t block) {
  v1::CreateVolumeRequest request;
  request.set_name(name);
  request.set_size_bytes(size);
  request.set_page_size_bytes(page);
  request.set_block_size_bytes(block);
  v1::VolumeInfo info;
  grpc::ClientContext context;
  return stub->CreateVolume(&context, request, &info);
}

grpc::Status Read(v1::BlockStore::Stub* stub, const std::string& volume, uint64_t page) {
  v1::ReadPageRequest request;
  request.set_volume(volume);
  request.set_page_index(page);
  v1::ReadPageResponse response;
  grpc::ClientContext context;
  return stub->ReadPage(&context, request, &response);
}

// Drains a stream call and returns its status; `messages` counts what arrived.
template <typename Response>
grpc::Status Drain(grpc::ClientReader<Response>* reader, int* messages) {
  Response response;
  while (reader->Read(&response)) ++*messages;
  return reader->Finish();
}

grpc::Status ReadRange(v1::BlockStore::Stub* stub, const std::string& volume, uint64_t first,
                       uint64_t count) {
  v1::ReadPagesRequest request;
  request.set_volume(volume);
  request.set_first_page_index(first);
  request.set_page_count(count);
  grpc::ClientContext context;
  int messages = 0;
  grpc::Status status = Drain(stub->ReadPages(&context, request).get(), &messages);
  // A range refused up front sends no page.
  EXPECT_EQ(messages, 0) << volume << " " << first << " " << count;
  return status;
}

grpc::Status FlushWith(v1::BlockStore::Stub* stub, const std::string& volume,
                       absl::optional<uint64_t> cursor) {
  v1::FlushRequest request;
  request.set_volume(volume);
  if (cursor.has_value()) request.set_error_cursor(*cursor);
  grpc::ClientContext context;
  int messages = 0;
  grpc::Status status = Drain(stub->Flush(&context, request).get(), &messages);
  EXPECT_EQ(messages, 0);
  return status;
}

grpc::Status Info(v1::BlockStore::Stub* stub, const std::string& volume) {
  v1::GetVolumeInfoRequest request;
  request.set_volume(volume);
  v1::VolumeInfo info;
  grpc::ClientContext context;
  return stub->GetVolumeInfo(&context, request, &info);
}

grpc::Status Delete(v1::BlockStore::Stub* stub, const std::string& volume) {
  v1::DeleteVolumeRequest request;
  request.set_volume(volume);
  v1::DeleteVolumeResponse response;
  grpc::ClientContext context;
  return stub->DeleteVolume(&context, request, &response);
}

using grpc::StatusCode;

std::vector<BadCall> AllBadCalls() {
  const std::string nul_name("vol\0x", 5);
  const std::string long_name(200, 'a');
  return {
      // Unknown volume.
      {"write to unknown volume", [](auto* s) { return Write(s, "nope", 0, 0, 4096); },
       StatusCode::NOT_FOUND, "volume"},
      {"read unknown volume", [](auto* s) { return Read(s, "nope", 0); }, StatusCode::NOT_FOUND,
       "volume"},
      {"read range of unknown volume", [](auto* s) { return ReadRange(s, "nope", 0, 1); },
       StatusCode::NOT_FOUND, "volume"},
      {"flush unknown volume", [](auto* s) { return FlushWith(s, "nope", absl::nullopt); },
       StatusCode::NOT_FOUND, "volume"},
      {"info of unknown volume", [](auto* s) { return Info(s, "nope"); }, StatusCode::NOT_FOUND,
       "volume"},
      {"delete unknown volume", [](auto* s) { return Delete(s, "nope"); }, StatusCode::NOT_FOUND,
       "volume"},
      // Duplicate name.
      {"create existing volume",
       [](auto* s) { return Create(s, "vol", kVolumeBytes, kPageSize, kBlockSize); },
       StatusCode::ALREADY_EXISTS, ""},
      // Bad names: never a path.
      {"create empty name", [](auto* s) { return Create(s, "", 1 << 20, 0, 0); },
       StatusCode::INVALID_ARGUMENT, "name"},
      {"create ..", [](auto* s) { return Create(s, "..", 1 << 20, 0, 0); },
       StatusCode::INVALID_ARGUMENT, "name"},
      {"create .", [](auto* s) { return Create(s, ".", 1 << 20, 0, 0); },
       StatusCode::INVALID_ARGUMENT, "name"},
      {"create a/b", [](auto* s) { return Create(s, "a/b", 1 << 20, 0, 0); },
       StatusCode::INVALID_ARGUMENT, "name"},
      {"create ../escape", [](auto* s) { return Create(s, "../escape", 1 << 20, 0, 0); },
       StatusCode::INVALID_ARGUMENT, "name"},
      {"create /abs", [](auto* s) { return Create(s, "/abs", 1 << 20, 0, 0); },
       StatusCode::INVALID_ARGUMENT, "name"},
      {"create NUL name", [nul_name](auto* s) { return Create(s, nul_name, 1 << 20, 0, 0); },
       StatusCode::INVALID_ARGUMENT, "name"},
      {"create 200-byte name", [long_name](auto* s) { return Create(s, long_name, 1 << 20, 0, 0); },
       StatusCode::INVALID_ARGUMENT, "name"},
      {"write to ../vol", [](auto* s) { return Write(s, "../vol", 0, 0, 4096); },
       StatusCode::INVALID_ARGUMENT, "volume"},
      {"write to NUL name", [nul_name](auto* s) { return Write(s, nul_name, 0, 0, 4096); },
       StatusCode::INVALID_ARGUMENT, "volume"},
      {"read empty volume name", [](auto* s) { return Read(s, "", 0); },
       StatusCode::INVALID_ARGUMENT, "volume"},
      {"info of a/b", [](auto* s) { return Info(s, "a/b"); }, StatusCode::INVALID_ARGUMENT,
       "volume"},
      {"delete ..", [](auto* s) { return Delete(s, ".."); }, StatusCode::INVALID_ARGUMENT,
       "volume"},
      {"flush of ../vol", [](auto* s) { return FlushWith(s, "../vol", absl::nullopt); },
       StatusCode::INVALID_ARGUMENT, "volume"},
      // Bad sizes.
      {"create size 0", [](auto* s) { return Create(s, "z", 0, 0, 0); },
       StatusCode::INVALID_ARGUMENT, "size_bytes"},
      {"create size not a block multiple", [](auto* s) { return Create(s, "z", 1000, 0, 0); },
       StatusCode::INVALID_ARGUMENT, ""},
      {"create page size 5000", [](auto* s) { return Create(s, "z", 1 << 20, 5000, 0); },
       StatusCode::INVALID_ARGUMENT, ""},
      {"create page size 128K", [](auto* s) { return Create(s, "z", 1 << 20, 131072, 4096); },
       StatusCode::INVALID_ARGUMENT, ""},
      {"create page size 2K", [](auto* s) { return Create(s, "z", 1 << 20, 2048, 512); },
       StatusCode::INVALID_ARGUMENT, ""},
      {"create block size 256", [](auto* s) { return Create(s, "z", 1 << 20, 4096, 256); },
       StatusCode::INVALID_ARGUMENT, ""},
      {"create block larger than page",
       [](auto* s) { return Create(s, "z", 1 << 20, 16384, 32768); }, StatusCode::INVALID_ARGUMENT,
       ""},
      // Misaligned, empty and oversized data.
      {"misaligned offset", [](auto* s) { return Write(s, "vol", 0, 512, 4096); },
       StatusCode::INVALID_ARGUMENT, "offset_bytes"},
      {"misaligned length", [](auto* s) { return Write(s, "vol", 0, 0, 100); },
       StatusCode::INVALID_ARGUMENT, "data"},
      {"empty data", [](auto* s) { return Write(s, "vol", 0, 0, 0); }, StatusCode::INVALID_ARGUMENT,
       "data"},
      {"data longer than the page", [](auto* s) { return Write(s, "vol", 0, 0, 20480); },
       StatusCode::INVALID_ARGUMENT, "data"},
      {"data crossing the page end", [](auto* s) { return Write(s, "vol", 0, 8192, 12288); },
       StatusCode::INVALID_ARGUMENT, "data"},
      {"offset at the page end", [](auto* s) { return Write(s, "vol", 0, kPageSize, 4096); },
       StatusCode::INVALID_ARGUMENT, "data"},
      // Larger than the largest message (1 MiB + 4 KiB by default): gRPC refuses it before
      // the service sees it.
      {"data over max_message_bytes", [](auto* s) { return Write(s, "vol", 0, 0, 2 << 20); },
       StatusCode::RESOURCE_EXHAUSTED, ""},
      // Within the message limit, far past the page: the service names the field.
      {"data of 1 MiB", [](auto* s) { return Write(s, "vol", 0, 0, 1 << 20); },
       StatusCode::INVALID_ARGUMENT, "data"},
      // Past the end.
      {"write page past the end", [](auto* s) { return Write(s, "vol", kPages, 0, 4096); },
       StatusCode::OUT_OF_RANGE, "page_index"},
      {"write huge page index", [](auto* s) { return Write(s, "vol", ~0ull, 0, 4096); },
       StatusCode::OUT_OF_RANGE, "page_index"},
      {"write past the end inside the last page",
       [](auto* s) { return Write(s, "vol", kPages - 1, 8192, 4096); }, StatusCode::OUT_OF_RANGE,
       "data"},
      {"read page past the end", [](auto* s) { return Read(s, "vol", kPages); },
       StatusCode::OUT_OF_RANGE, "page_index"},
      {"read range past the end", [](auto* s) { return ReadRange(s, "vol", kPages - 1, 2); },
       StatusCode::OUT_OF_RANGE, "first_page_index"},
      {"read range of 0 pages", [](auto* s) { return ReadRange(s, "vol", 0, 0); },
       StatusCode::INVALID_ARGUMENT, "page_count"},
  };
}

TEST_P(BadInputsTest, EachGetsItsCodeAndChangesNothing) {
  const std::string before = ReadAll("vol", kPages);
  const std::set<std::string> entries_before = StoreEntries();

  for (const BadCall& bad : AllBadCalls()) {
    const grpc::Status status = bad.call(stub());
    EXPECT_EQ(status.error_code(), bad.code) << bad.what << ": " << status.error_message();
    if (!bad.field.empty()) {
      EXPECT_TRUE(absl::StartsWith(status.error_message(), bad.field + ":"))
          << bad.what << ": " << status.error_message();
    }
  }

  absl::StatusOr<v1::VolumeInfo> info = client_->GetVolumeInfo("vol");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->dirty_pages(), 0u) << "a refused write dirtied a page";
  EXPECT_EQ(info->size_bytes(), kVolumeBytes);
  EXPECT_EQ(ReadAll("vol", kPages), before);
  absl::StatusOr<std::vector<v1::VolumeInfo>> volumes = client_->ListVolumes();
  ASSERT_TRUE(volumes.ok());
  ASSERT_EQ(volumes->size(), 1u) << "a refused create made a volume";
  EXPECT_EQ(StoreEntries(), entries_before);
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(data_dir_) / ".." / "escape.vol"));
}

TEST_P(BadInputsTest, OneBadWriteOnAStreamFailsOnlyThatWrite) {
  const std::string before = ReadAll("vol", kPages);
  std::unique_ptr<PageWriter> writer = client_->NewPageWriter(4);
  absl::Mutex mu;
  std::map<uint64_t, absl::StatusCode> codes;  // by page_index
  auto record = [&](const WriteResult& result) {
    absl::MutexLock lock(&mu);
    codes[result.page_index] = result.status.code();
  };
  const std::string good0 = Pattern(kPageSize, 1000);
  const std::string good3 = Pattern(kPageSize, 1003);
  ASSERT_TRUE(writer->Write("vol", 0, 0, good0, false, record).ok());
  ASSERT_TRUE(writer->Write("vol", 1, 512, std::string(4096, 'x'), false, record).ok());
  ASSERT_TRUE(writer->Write("nope", 2, 0, std::string(4096, 'x'), false, record).ok());
  ASSERT_TRUE(writer->Write("vol", 3, 0, good3, false, record).ok());
  ASSERT_TRUE(writer->Write("vol", kPages, 0, std::string(4096, 'x'), false, record).ok());
  ASSERT_TRUE(writer->Write("vol", 5, 0, "", false, record).ok());
  EXPECT_TRUE(writer->Finish().ok()) << "the stream itself must end OK";
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(codes[0], absl::StatusCode::kOk);
    EXPECT_EQ(codes[1], absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(codes[2], absl::StatusCode::kNotFound);
    EXPECT_EQ(codes[3], absl::StatusCode::kOk);
    EXPECT_EQ(codes[kPages], absl::StatusCode::kOutOfRange);
    EXPECT_EQ(codes[5], absl::StatusCode::kInvalidArgument);
  }
  std::string want = before;
  want.replace(0, kPageSize, good0);
  want.replace(3 * kPageSize, kPageSize, good3);
  EXPECT_EQ(ReadAll("vol", kPages), want);
}

// What a raw write stream ended with: each write's code by request_id, and the call's status.
struct StreamOutcome {
  std::map<uint64_t, grpc::StatusCode> codes;
  std::map<uint64_t, std::string> messages;
  grpc::Status status;
};

void Record(const v1::WritePageResponse& result, StreamOutcome* out) {
  EXPECT_EQ(out->codes.count(result.request_id()), 0u) << "answered twice";
  out->codes[result.request_id()] = static_cast<grpc::StatusCode>(result.code());
  out->messages[result.request_id()] = result.message();
}

// WritePages, one write per message.
StreamOutcome SendOnWritePages(v1::BlockStore::Stub* stub,
                               const std::vector<v1::WritePageRequest>& writes) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto stream = stub->WritePages(&context);
  for (const v1::WritePageRequest& write : writes) EXPECT_TRUE(stream->Write(write));
  EXPECT_TRUE(stream->WritesDone());
  StreamOutcome out;
  v1::WritePageResponse response;
  while (stream->Read(&response)) Record(response, &out);
  out.status = stream->Finish();
  return out;
}

// WritePageBatches, one message per element of `batches`.
StreamOutcome SendOnWritePageBatches(
    v1::BlockStore::Stub* stub, const std::vector<std::vector<v1::WritePageRequest>>& batches) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto stream = stub->WritePageBatches(&context);
  for (const auto& writes : batches) {
    v1::WritePageBatchRequest batch;
    for (const v1::WritePageRequest& write : writes) *batch.add_writes() = write;
    if (!stream->Write(batch)) break;  // the server ended the stream
  }
  stream->WritesDone();
  StreamOutcome out;
  v1::WritePageBatchResponse response;
  while (stream->Read(&response)) {
    for (const v1::WritePageResponse& result : response.results()) {
      Record(result, &out);
    }
  }
  out.status = stream->Finish();
  return out;
}

// Good writes to pages 0 and 3 around one bad write of each kind (by request_id 1..5).
std::vector<v1::WritePageRequest> MixedWrites(const std::string& good0, const std::string& good3) {
  return {TestWritePageRequest("vol", 0, 0, good0, 10),
          TestWritePageRequest("vol", 1, 512, std::string(4096, 'x'), 1),
          TestWritePageRequest("nope", 2, 0, std::string(4096, 'x'), 2),
          TestWritePageRequest("vol", 3, 0, good3, 11),
          TestWritePageRequest("vol", kPages, 0, std::string(4096, 'x'), 3),
          TestWritePageRequest("vol", 5, 0, "", 4),
          TestWritePageRequest("../vol", 6, 0, std::string(4096, 'x'), 5)};
}

void ExpectMixedOutcome(const StreamOutcome& out) {
  EXPECT_TRUE(out.status.ok()) << "the stream itself must end OK: " << out.status.error_message();
  const std::map<uint64_t, grpc::StatusCode> want = {{10, grpc::StatusCode::OK},
                                                     {1, grpc::StatusCode::INVALID_ARGUMENT},
                                                     {2, grpc::StatusCode::NOT_FOUND},
                                                     {11, grpc::StatusCode::OK},
                                                     {3, grpc::StatusCode::OUT_OF_RANGE},
                                                     {4, grpc::StatusCode::INVALID_ARGUMENT},
                                                     {5, grpc::StatusCode::INVALID_ARGUMENT}};
  EXPECT_EQ(out.codes, want);
  const std::map<uint64_t, std::string> fields = {
      {1, "offset_bytes:"}, {2, "volume:"}, {3, "page_index:"}, {4, "data:"}, {5, "volume:"}};
  for (const auto& [id, field] : fields) {
    EXPECT_TRUE(absl::StartsWith(out.messages.at(id), field)) << id << ": " << out.messages.at(id);
  }
}

TEST_P(BadInputsTest, BadWritesOnARawWritePagesStreamFailOnlyThemselves) {
  const std::string before = ReadAll("vol", kPages);
  const std::string good0 = Pattern(kPageSize, 2000);
  const std::string good3 = Pattern(kPageSize, 2003);
  ExpectMixedOutcome(SendOnWritePages(stub(), MixedWrites(good0, good3)));
  std::string want = before;
  want.replace(0, kPageSize, good0);
  want.replace(3 * kPageSize, kPageSize, good3);
  EXPECT_EQ(ReadAll("vol", kPages), want);
}

TEST_P(BadInputsTest, BadWritesInOneBatchFailOnlyThemselves) {
  const std::string before = ReadAll("vol", kPages);
  const std::string good0 = Pattern(kPageSize, 3000);
  const std::string good3 = Pattern(kPageSize, 3003);
  // All in one message: the batch is not refused as a whole, and not atomic.
  ExpectMixedOutcome(SendOnWritePageBatches(stub(), {MixedWrites(good0, good3)}));
  std::string want = before;
  want.replace(0, kPageSize, good0);
  want.replace(3 * kPageSize, kPageSize, good3);
  EXPECT_EQ(ReadAll("vol", kPages), want);
}

TEST_P(BadInputsTest, EmptyBatchIsAnsweredByNothing) {
  const std::string page2 = Pattern(kPageSize, 4002);
  const StreamOutcome out =
      SendOnWritePageBatches(stub(), {{}, {TestWritePageRequest("vol", 2, 0, page2, 7)}, {}});
  EXPECT_TRUE(out.status.ok()) << out.status.error_message();
  EXPECT_EQ(out.codes, (std::map<uint64_t, grpc::StatusCode>{{7, grpc::StatusCode::OK}}));
  EXPECT_EQ(ReadAll("vol", kPages).substr(2 * kPageSize, kPageSize), page2);
}

TEST_P(BadInputsTest, BatchOverMaxMessageBytesEndsTheStreamAndTakesNothing) {
  const std::string before = ReadAll("vol", kPages);
  absl::StatusOr<v1::VolumeInfo> info = client_->GetVolumeInfo("vol");
  ASSERT_TRUE(info.ok());
  // Whole 16 KiB pages, round the volume, until the batch is past the server's limit.
  std::vector<v1::WritePageRequest> writes;
  v1::WritePageBatchRequest probe;
  for (uint64_t i = 0; probe.ByteSizeLong() <= info->max_message_bytes(); ++i) {
    writes.push_back(
        TestWritePageRequest("vol", i % kPages, 0, Pattern(kPageSize, 5000 + i), i + 1));
    *probe.add_writes() = writes.back();
  }
  ASSERT_GT(probe.ByteSizeLong(), info->max_message_bytes());

  const StreamOutcome out = SendOnWritePageBatches(stub(), {writes});
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << out.status.error_message();
  EXPECT_TRUE(out.codes.empty()) << "a write of a refused batch was answered";
  EXPECT_EQ(ReadAll("vol", kPages), before);
  info = client_->GetVolumeInfo("vol");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->dirty_pages(), 0u) << "a write of a refused batch dirtied a page";
}

INSTANTIATE_STORE_TESTS(BadInputsTest);

}  // namespace
}  // namespace blockstore
