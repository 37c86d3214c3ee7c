// BlockServiceImpl in process on 127.0.0.1:0, over a real VolumeRegistry whose IO passes
// through FaultyIoBackend (on SyncBackend and real files): device errors and their status
// codes, error reporting once per client (R21), the dirty-limit deadline, shutdown, and
// streams cancelled by the client mid-stream.

#include "server/service/block_service.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "client/block_client.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"
#include "server/io/sync_backend.h"
#include "server/io/testing/faulty_io_backend.h"
#include "server/metrics/server_metrics.h"
#include "server/service/message_limits.h"
#include "server/service/read_page_batches_reactor.h"
#include "server/service/testing/write_page_request.h"
#include "server/service/transport_limits.h"
#include "server/volume/volume_registry.h"

namespace blockstore {
namespace {

constexpr uint32_t kPageSize = 16384;
constexpr uint32_t kBlockSize = 4096;

// Every finished RPC, by method: the service observes each call once, when it calls Finish,
// streams included, with the code it finished with.
class RecordingMetrics : public ServerMetrics {
 public:
  void ObserveRpc(RpcMethod method, absl::StatusCode code, absl::Duration latency) override {
    absl::MutexLock lock(&mu_);
    finished_[method].push_back(code);
    changed_.SignalAll();
  }
  void CountDenied(DenyReason reason) override { denied_.Count(reason); }
  int port() const override { return 0; }

  // The codes the calls of `method` finished with, once `count` of them did (or 20 s passed).
  std::vector<absl::StatusCode> WaitForFinished(RpcMethod method, size_t count) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    absl::MutexLock lock(&mu_);
    while (finished_[method].size() < count && !changed_.WaitWithDeadline(&mu_, deadline)) {
    }
    return finished_[method];
  }

 private:
  absl::Mutex mu_;
  absl::CondVar changed_;
  std::map<RpcMethod, std::vector<absl::StatusCode>> finished_ ABSL_GUARDED_BY(mu_);
  DeniedRequests denied_;
};

class BlockServiceTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (server_ != nullptr) Stop();
  }

  // `dirty_expire`: how old a dirty page gets before the flusher writes it back on its own.
  void Start(VolumeOptions options = VolumeOptions(),
             absl::Duration dirty_expire = absl::Milliseconds(200)) {
    options.flusher_interval = absl::Milliseconds(50);
    options.dirty_expire = dirty_expire;
    options.prefault_cache = false;        // each test's registry would map and write 256 MiB
    options.allocation_faults = &faulty_;  // FailAllocationsAt reaches the writeback
    absl::StatusOr<std::unique_ptr<VolumeRegistry>> registry =
        VolumeRegistry::Open(data_dir_.path(), options, &faulty_);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = *std::move(registry);
    BlockServiceOptions service_options = service_options_;
    service_options.io_backend_name = "faulty";
    service_ = std::make_unique<BlockServiceImpl>(registry_.get(), &metrics_, service_options);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    builder.SetMaxReceiveMessageSize(static_cast<int>(service_options.max_message_bytes));
    ApplyTransportLimits(transport_limits_, &builder);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    address_ = absl::StrCat("127.0.0.1:", port);
  }

  void Stop() {
    faulty_.ClearBlockFaults();
    faulty_.FailAllocationsAt(1, 0);  // a window of no calls: off
    service_->BeginShutdown();
    (void)registry_->StopAndFlushAll();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    server_->Wait();
    server_.reset();
    service_.reset();
    registry_.reset();
  }

  std::unique_ptr<Client> NewClient(absl::Duration timeout = absl::Seconds(30)) {
    ClientOptions options;
    options.timeout = timeout;
    return Client::Connect(address_, options);
  }

  // The device offset of block `block` of page `page` (a volume's block n is at n * block size).
  static uint64_t DeviceOffset(uint64_t page, uint32_t block) {
    return page * kPageSize + uint64_t{block} * kBlockSize;
  }

  // Waits (up to 20 s) until a write to `volume` is parked on its dirty limit.
  bool WaitForParkedWrite(const std::string& volume) {
    absl::StatusOr<std::shared_ptr<Volume>> found = registry_->Get(volume);
    if (!found.ok()) return false;
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while ((*found)->counters().throttled_writers.load() == 0) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return true;
  }

  const TempDir data_dir_;
  SyncBackend sync_{2};
  FaultyIoBackend faulty_{&sync_};
  BlockServiceOptions service_options_;  // what Start() gives the service (tests may change it)
  TransportLimits transport_limits_;     // what Start() gives the gRPC server
  RecordingMetrics metrics_;
  std::unique_ptr<VolumeRegistry> registry_;
  std::unique_ptr<BlockServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

TEST_F(BlockServiceTest, EioIsDataLossReportedOncePerClient) {
  Start();
  std::unique_ptr<Client> a = NewClient();
  std::unique_ptr<Client> b = NewClient();
  ASSERT_TRUE(a->CreateVolume("vol", 16 * kPageSize, kPageSize, kBlockSize).ok());
  // Both clients open their session before the failure.
  ASSERT_TRUE(a->ErrorCursor("vol").ok());
  ASSERT_TRUE(b->ErrorCursor("vol").ok());

  faulty_.FailBlock(DeviceOffset(3, 2), kBlockSize, EIO);
  ASSERT_TRUE(a->WritePage("vol", 3, 0, std::string(kPageSize, 'a')).ok());
  // Not adjacent to page 3, so its blocks travel in another bio (a failed bio fails every
  // block it carries).
  ASSERT_TRUE(a->WritePage("vol", 6, 0, std::string(kPageSize, 'b')).ok());

  FlushResult first;
  EXPECT_EQ(a->Flush("vol", &first).code(), absl::StatusCode::kDataLoss);
  ASSERT_TRUE(first.has_summary);
  EXPECT_EQ(first.pages_failed, 1u);
  EXPECT_EQ(first.pages_written, 1u);
  bool saw_page3 = false;
  for (const FlushPageResult& page : first.pages) {
    if (page.page_index == 3) {
      saw_page3 = true;
      EXPECT_EQ(page.status.code(), absl::StatusCode::kDataLoss);
      EXPECT_NE(std::find(page.failed_blocks.begin(), page.failed_blocks.end(), 2u),
                page.failed_blocks.end());
    } else {
      EXPECT_EQ(page.page_index, 6u);
      EXPECT_TRUE(page.status.ok()) << page.page_index;
    }
  }
  EXPECT_TRUE(saw_page3);

  // Reported once to A...
  EXPECT_TRUE(a->Flush("vol").ok());
  // ...and once to B, whose session began before anyone saw it.
  EXPECT_EQ(b->Flush("vol").code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(b->Flush("vol").ok());
  // A client that starts after the error was seen is not told about it.
  std::unique_ptr<Client> c = NewClient();
  EXPECT_TRUE(c->Flush("vol").ok());
}

// A batch stream stops reading while the request messages of its unanswered batches add up to
// batch_stream_held_bytes_max, however few writes they carry (a batch's message lives until its
// last write is answered). Method: a message of four FUA writes of 16 KiB whose completions the
// device holds for a second, then a plain write in the next message. With a 32 KiB budget the
// second message is not read until the FUA writes are answered, so the plain write is answered
// last; with the default budget it is read at once and answered first.
TEST_F(BlockServiceTest, ABatchStreamStopsReadingWhileItsHeldMessagesReachTheByteBudget) {
  const uint64_t kDefaultBudget = BlockServiceOptions().batch_stream_held_bytes_max;
  for (const uint64_t budget : {uint64_t{32} << 10, kDefaultBudget}) {
    SCOPED_TRACE(budget);
    const std::string volume = absl::StrCat("vol", budget);
    service_options_.batch_stream_held_bytes_max = budget;
    Start();
    std::unique_ptr<Client> client = NewClient();
    ASSERT_TRUE(client->CreateVolume(volume, 16 * kPageSize, kPageSize, kBlockSize).ok());
    faulty_.SetSlowCompletions(absl::Seconds(1));

    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto stream = client->stub()->WritePageBatches(&context);
    v1::WritePageBatchRequest durable;
    for (uint64_t page = 0; page < 4; ++page) {
      *durable.add_writes() = TestWritePageRequest(volume, page, 0, std::string(kPageSize, 'f'),
                                                   page + 1, /*fua=*/true);
    }
    ASSERT_GT(durable.ByteSizeLong(), uint64_t{32} << 10);
    v1::WritePageBatchRequest plain;
    *plain.add_writes() = TestWritePageRequest(volume, 8, 0, std::string(kPageSize, 'p'), 100);
    ASSERT_TRUE(stream->Write(durable));
    ASSERT_TRUE(stream->Write(plain));
    stream->WritesDone();
    std::vector<uint64_t> order;
    v1::WritePageBatchResponse response;
    while (stream->Read(&response)) {
      for (const v1::WritePageResponse& result : response.results()) {
        EXPECT_EQ(result.code(), 0) << result.message();
        order.push_back(result.request_id());
      }
    }
    const grpc::Status status = stream->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(order.size(), 5u);
    if (budget < kDefaultBudget) {
      EXPECT_EQ(order.back(), 100u) << "the next message was read past the byte budget";
    } else {
      EXPECT_EQ(order.front(), 100u) << "the plain write waited for the FUA writes";
    }
    faulty_.SetSlowCompletions(absl::ZeroDuration(), 0);
    Stop();
  }
}

TEST_F(BlockServiceTest, AFlushAskingForTheSummaryOnlyGetsItAloneWithTheSameVerdict) {
  // Method: page 3's write-back fails (EIO), page 6's succeeds. A raw Flush with summary_only
  // (and group_page_events, which it overrides) receives exactly one event, the summary, which
  // counts both pages and says DATA_LOSS, as does the call's status. Then, after two more
  // writes, the Client's FlushDetail::kSummaryOnly returns no page results, counts the two
  // pages, and says DATA_LOSS once (its cursor predates the failure), then OK.
  Start();
  std::unique_ptr<Client> client = NewClient();
  ASSERT_TRUE(client->CreateVolume("vol", 16 * kPageSize, kPageSize, kBlockSize).ok());
  faulty_.FailBlock(DeviceOffset(3, 2), kBlockSize, EIO);
  ASSERT_TRUE(client->WritePage("vol", 3, 0, std::string(kPageSize, 'a')).ok());
  ASSERT_TRUE(client->WritePage("vol", 6, 0, std::string(kPageSize, 'b')).ok());

  v1::FlushRequest request;
  request.set_volume("vol");
  request.set_summary_only(true);
  request.set_group_page_events(true);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto reader = client->stub()->Flush(&context, request);
  std::vector<v1::FlushEvent> events;
  v1::FlushEvent event;
  while (reader->Read(&event)) events.push_back(event);
  const grpc::Status status = reader->Finish();
  ASSERT_EQ(events.size(), 1u) << "page events although only the summary was asked for";
  ASSERT_TRUE(events[0].has_summary());
  EXPECT_EQ(events[0].summary().pages_written(), 1u);
  EXPECT_EQ(events[0].summary().pages_failed(), 1u);
  EXPECT_EQ(events[0].summary().code(), static_cast<int32_t>(absl::StatusCode::kDataLoss));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DATA_LOSS);

  faulty_.ClearBlockFaults();
  ASSERT_TRUE(client->WritePage("vol", 8, 0, std::string(kPageSize, 'c')).ok());
  ASSERT_TRUE(client->WritePage("vol", 9, 0, std::string(kPageSize, 'd')).ok());
  FlushResult result;
  bool on_page_ran = false;
  EXPECT_EQ(client
                ->Flush(
                    "vol", &result, [&](const FlushPageResult&) { on_page_ran = true; },
                    FlushDetail::kSummaryOnly)
                .code(),
            absl::StatusCode::kDataLoss);
  EXPECT_TRUE(result.has_summary);
  EXPECT_TRUE(result.pages.empty());
  EXPECT_FALSE(on_page_ran);
  EXPECT_EQ(result.pages_written, 2u);
  EXPECT_EQ(result.pages_failed, 0u);
  EXPECT_TRUE(client->Flush("vol", nullptr, nullptr, FlushDetail::kSummaryOnly).ok());
}

TEST_F(BlockServiceTest, AnErrorNobodySawReachesANewClient) {
  Start();
  std::unique_ptr<Client> writer = NewClient();
  ASSERT_TRUE(writer->CreateVolume("vol", 16 * kPageSize, kPageSize, kBlockSize).ok());
  faulty_.FailBlock(DeviceOffset(1, 0), kBlockSize, EIO);
  ASSERT_TRUE(writer->WritePage("vol", 1, 0, std::string(kBlockSize, 'x')).ok());
  // Let the flusher write it back (and fail) without a Flush call: bounded wait.
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  for (;;) {
    absl::StatusOr<v1::VolumeInfo> info = writer->GetVolumeInfo("vol");
    ASSERT_TRUE(info.ok());
    if (info->dirty_pages() == 0 && info->pages_under_writeback() == 0) break;
    ASSERT_LT(absl::Now(), deadline) << "the flusher never wrote the page back";
    absl::SleepFor(absl::Milliseconds(20));
  }
  // A new session samples a cursor that still reports the unseen error (errseq_sample).
  std::unique_ptr<Client> late = NewClient();
  EXPECT_EQ(late->Flush("vol").code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(late->Flush("vol").ok());
}

TEST_F(BlockServiceTest, EnospcIsResourceExhaustedAndFuaWritesReportTheirError) {
  Start();
  std::unique_ptr<Client> client = NewClient();
  ASSERT_TRUE(client->CreateVolume("vol", 16 * kPageSize, kPageSize, kBlockSize).ok());
  ASSERT_TRUE(client->ErrorCursor("vol").ok());

  faulty_.FailBlock(DeviceOffset(5, 0), kBlockSize, ENOSPC);
  ASSERT_TRUE(client->WritePage("vol", 5, 0, std::string(kBlockSize, 'n')).ok());
  EXPECT_EQ(client->Flush("vol").code(), absl::StatusCode::kResourceExhausted);

  // FUA: the write itself reports the device error.
  faulty_.FailBlock(DeviceOffset(6, 1), kBlockSize, EIO);
  EXPECT_EQ(client->WritePage("vol", 6, kBlockSize, std::string(kBlockSize, 'f'), true).code(),
            absl::StatusCode::kDataLoss);
  faulty_.FailBlock(DeviceOffset(7, 0), kBlockSize, ENOSPC);
  EXPECT_EQ(client->WritePage("vol", 7, 0, std::string(kBlockSize, 'g'), true).code(),
            absl::StatusCode::kResourceExhausted);
  // A FUA write to a good block is durable and OK.
  EXPECT_TRUE(client->WritePage("vol", 8, 0, std::string(kPageSize, 'h'), true).ok());
}

TEST_F(BlockServiceTest, DirtyLimitPastTheDeadlineIsResourceExhausted) {
  VolumeOptions options;
  options.cache_bytes = 4 << 20;
  options.dirty_limit_bytes = 4 * kPageSize;
  options.dirty_background_bytes = 2 * kPageSize;
  Start(options);
  std::unique_ptr<Client> client = NewClient(absl::Seconds(1));
  ASSERT_TRUE(client->CreateVolume("vol", 64 * kPageSize, kPageSize, kBlockSize).ok());
  // Writeback cannot take a bio: dirty pages stay dirty.
  faulty_.FailAllocationsAt(faulty_.AllocationCalls() + 1, UINT64_MAX);
  absl::Status status;
  int accepted = 0;
  for (int page = 0; page < 32; ++page) {
    status = client->WritePage("vol", page, 0, std::string(kPageSize, 'd'));
    if (!status.ok()) break;
    ++accepted;
  }
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_GE(accepted, 4);
  EXPECT_LT(accepted, 32);
  faulty_.FailAllocationsAt(1, 0);  // a window of no calls: off
}

TEST_F(BlockServiceTest, ShutdownRefusesWritesAndStillServesReadsAndFlushes) {
  Start();
  std::unique_ptr<Client> client = NewClient();
  ASSERT_TRUE(client->CreateVolume("vol", 16 * kPageSize, kPageSize, kBlockSize).ok());
  const std::string data(kPageSize, 's');
  ASSERT_TRUE(client->WritePage("vol", 0, 0, data).ok());

  service_->BeginShutdown();
  EXPECT_EQ(client->WritePage("vol", 1, 0, data).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(client->CreateVolume("other", 1 << 20).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(client->DeleteVolume("vol").code(), absl::StatusCode::kUnavailable);
  std::unique_ptr<PageWriter> writer = client->NewPageWriter(4);
  absl::Mutex mu;
  absl::StatusCode stream_code = absl::StatusCode::kOk;
  ASSERT_TRUE(writer
                  ->Write("vol", 2, 0, data, false,
                          [&](const WriteResult& result) {
                            absl::MutexLock lock(&mu);
                            stream_code = result.status.code();
                          })
                  .ok());
  EXPECT_TRUE(writer->Finish().ok());
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(stream_code, absl::StatusCode::kUnavailable);
  }

  absl::StatusOr<std::string> back = client->ReadPage("vol", 0);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data);
  EXPECT_TRUE(client->Flush("vol").ok());
  absl::StatusOr<v1::VolumeInfo> info = client->GetVolumeInfo("vol");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->dirty_pages(), 0u);
  absl::StatusOr<std::string> never_written = client->ReadPage("vol", 1);
  ASSERT_TRUE(never_written.ok());
  EXPECT_EQ(*never_written, std::string(kPageSize, '\0'));
}

// Writes `count` pages (cycling over `pages` pages) through `writer`; each page's last write is
// recorded in `image`. Returns how many times each request_id was answered, and with what.
std::map<uint64_t, std::vector<absl::StatusCode>> WriteThrough(PageWriter* writer, int count,
                                                               uint64_t pages,
                                                               std::vector<std::string>* image,
                                                               const std::string& volume = "vol",
                                                               uint32_t page_size = kPageSize) {
  absl::Mutex mu;
  std::map<uint64_t, std::vector<absl::StatusCode>> answers;
  image->assign(pages, std::string());
  for (int i = 0; i < count; ++i) {
    const uint64_t page = (i * 7) % pages;
    std::string data(page_size, static_cast<char>('a' + i % 26));
    data[0] = static_cast<char>(i);
    (*image)[page] = data;
    EXPECT_TRUE(writer
                    ->Write(volume, page, 0, data, false,
                            [&mu, &answers](const WriteResult& result) {
                              absl::MutexLock lock(&mu);
                              answers[result.request_id].push_back(result.status.code());
                            })
                    .ok());
  }
  EXPECT_TRUE(writer->Finish().ok());
  absl::MutexLock lock(&mu);
  return answers;
}

// Reads back every page of `volume` and compares it with `image` (one entry per page).
void ExpectVolumeHolds(Client* client, const std::string& volume,
                       const std::vector<std::string>& image) {
  for (uint64_t page = 0; page < image.size(); ++page) {
    absl::StatusOr<std::string> back = client->ReadPage(volume, page);
    ASSERT_TRUE(back.ok()) << back.status();
    // The first byte names the write (its number, mod 256): say which write was read.
    EXPECT_TRUE(*back == image[page])
        << "page " << page << ": read write #" << static_cast<int>(static_cast<uint8_t>((*back)[0]))
        << ", expected write #" << static_cast<int>(static_cast<uint8_t>(image[page][0]));
  }
}

TEST_F(BlockServiceTest, WritePageBatchesPacksQueuedWritesAndAnswersEachOnce) {
  Start();
  std::unique_ptr<Client> client = NewClient();
  constexpr uint64_t kPages = 32;
  constexpr int kWrites = 2000;
  ASSERT_TRUE(client->CreateVolume("vol", kPages * kPageSize, kPageSize, kBlockSize).ok());

  for (const size_t max_batch_bytes : {size_t{0}, PageWriter::kDefaultMaxBatchBytes}) {
    SCOPED_TRACE(absl::StrCat("max_batch_bytes ", max_batch_bytes));
    std::unique_ptr<PageWriter> writer = client->NewPageWriter(64, max_batch_bytes);
    std::vector<std::string> image;
    const auto answers = WriteThrough(writer.get(), kWrites, kPages, &image);
    ASSERT_EQ(answers.size(), static_cast<size_t>(kWrites));
    for (const auto& [id, codes] : answers) {
      ASSERT_EQ(codes, std::vector<absl::StatusCode>{absl::StatusCode::kOk}) << "request " << id;
    }
    const PageWriter::SendStats stats = writer->send_stats();
    EXPECT_EQ(stats.writes, static_cast<uint64_t>(kWrites));
    if (max_batch_bytes == 0) {
      EXPECT_EQ(stats.messages, stats.writes) << "0 means one write per message";
    } else {
      // 16 KiB pages: at most 3 per 64 KiB message. 2000 writes issued back to back with 64 in
      // flight find a message being sent nearly every time, so most travel packed.
      EXPECT_GE(stats.messages, static_cast<uint64_t>(kWrites / 3));
      EXPECT_LT(stats.messages, static_cast<uint64_t>(kWrites));
    }
    ExpectVolumeHolds(client.get(), "vol", image);
  }
}

// Reads on a ReadPageBatches stream (through PageReader): every read answered once with its
// page; a read refused (no such volume, a page past the end, a bad name) fails alone with
// ReadPage's code and the stream goes on; the stream ends OK.
TEST_F(BlockServiceTest, ReadPageBatchesAnswersEveryReadOnceAndRefusalsAlone) {
  Start();
  std::unique_ptr<Client> client = NewClient();
  constexpr uint64_t kPages = 32;
  ASSERT_TRUE(client->CreateVolume("vol", kPages * kPageSize, kPageSize, kBlockSize).ok());
  std::vector<std::string> image;
  for (uint64_t page = 0; page < kPages; ++page) {
    image.push_back(std::string(kPageSize, static_cast<char>('a' + page % 26)));
    ASSERT_TRUE(client->WritePage("vol", page, 0, image.back()).ok());
  }
  std::unique_ptr<PageReader> reader = client->NewPageReader(64);
  absl::Mutex mu;
  std::map<uint64_t, ReadResult> results;  // by request id
  int answers = 0;
  auto record = [&](const ReadResult& result) {
    absl::MutexLock lock(&mu);
    ++answers;
    results[result.request_id] = result;
  };
  constexpr int kReads = 3000;
  for (int i = 0; i < kReads; ++i) {
    ASSERT_TRUE(reader->Read("vol", (i * 7) % kPages, record).ok());
  }
  ASSERT_TRUE(reader->Read("no-such-volume", 0, record).ok());
  ASSERT_TRUE(reader->Read("vol", kPages, record).ok());
  ASSERT_TRUE(reader->Read("../vol", 0, record).ok());
  ASSERT_TRUE(reader->Read("vol", 1, record).ok());
  ASSERT_TRUE(reader->Finish().ok());
  absl::MutexLock lock(&mu);
  EXPECT_EQ(answers, kReads + 4) << "a read answered twice or never";
  ASSERT_EQ(results.size(), static_cast<size_t>(kReads + 4));
  for (int i = 0; i < kReads; ++i) {
    const ReadResult& result = results[i + 1];  // request ids count from 1
    ASSERT_TRUE(result.status.ok()) << result.status;
    ASSERT_EQ(result.page_index, static_cast<uint64_t>((i * 7) % kPages));
    ASSERT_EQ(result.data, image[result.page_index]) << "read " << i;
  }
  EXPECT_EQ(results[kReads + 1].status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(results[kReads + 2].status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(results[kReads + 3].status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(results[kReads + 4].status.ok()) << "the stream goes on after refusals";
  EXPECT_EQ(results[kReads + 4].data, image[1]);
  EXPECT_EQ(metrics_.WaitForFinished(RpcMethod::kReadPageBatches, 1),
            std::vector<absl::StatusCode>{absl::StatusCode::kOk});
}

// ReadPageBatches answers in messages of at most kMinMaxMessageBytes (68 KiB), though requests
// may be as large as max_message_bytes (1 MiB + 4 KiB): larger responses reached a depth-32
// reader in fewer, larger bursts (docs/benchmarks.md). 32 pages of 16 KiB read in one request
// need at least 8 messages.
TEST_F(BlockServiceTest, ReadPageBatchesAnswersInMessagesOfAtMost68KiB) {
  Start();
  std::unique_ptr<Client> client = NewClient();
  constexpr uint64_t kPages = 32;
  ASSERT_TRUE(client->CreateVolume("vol", kPages * kPageSize, kPageSize, kBlockSize).ok());
  for (uint64_t page = 0; page < kPages; ++page) {
    ASSERT_TRUE(
        client->WritePage("vol", page, 0, std::string(kPageSize, static_cast<char>('a' + page)))
            .ok());
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto stream = client->stub()->ReadPageBatches(&context);
  v1::ReadPageBatchRequest request;
  for (uint64_t page = 0; page < kPages; ++page) {
    v1::ReadPageRequest* read = request.add_reads();
    read->set_volume("vol");
    read->set_page_index(page);
    read->set_request_id(page);
  }
  ASSERT_TRUE(stream->Write(request));
  stream->WritesDone();
  size_t messages = 0;
  std::map<uint64_t, std::string> pages;
  v1::ReadPageBatchResponse response;
  while (stream->Read(&response)) {
    ++messages;
    EXPECT_LE(response.ByteSizeLong(), kMinMaxMessageBytes);
    for (v1::ReadPageResult& result : *response.mutable_results()) {
      EXPECT_EQ(result.code(), 0) << result.message();
      pages[result.request_id()] = std::move(*result.mutable_data());
    }
  }
  const grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_GE(messages, 8u);
  ASSERT_EQ(pages.size(), kPages);
  for (const auto& [page, data] : pages) {
    EXPECT_EQ(data, std::string(kPageSize, static_cast<char>('a' + page))) << "page " << page;
  }
}

// A ReadPageBatches message with more than kMaxReadsPerBatch reads (each a few bytes, so one
// message could otherwise ask for tens of thousands of pages) ends the stream
// INVALID_ARGUMENT naming the field, after the reads sent before it are answered.
TEST_F(BlockServiceTest, ReadPageBatchesRefusesAMessageWithTooManyReads) {
  Start();
  std::unique_ptr<Client> client = NewClient();
  ASSERT_TRUE(client->CreateVolume("vol", 8 * kPageSize, kPageSize, kBlockSize).ok());
  grpc::ClientContext context;
  auto stream = client->stub()->ReadPageBatches(&context);
  v1::ReadPageBatchRequest first;
  v1::ReadPageRequest* one = first.add_reads();
  one->set_volume("vol");
  one->set_request_id(1);
  ASSERT_TRUE(stream->Write(first));
  v1::ReadPageBatchRequest flood;
  for (int i = 0; i <= ReadPageBatchesReactor::kMaxReadsPerBatch; ++i) {
    v1::ReadPageRequest* read = flood.add_reads();
    read->set_volume("vol");
    read->set_request_id(100 + i);
  }
  stream->Write(flood);  // may fail once the server has ended the stream
  stream->WritesDone();
  std::vector<uint64_t> answered;
  v1::ReadPageBatchResponse response;
  while (stream->Read(&response)) {
    for (const v1::ReadPageResult& result : response.results()) {
      answered.push_back(result.request_id());
    }
  }
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_TRUE(absl::StartsWith(status.error_message(), "reads: ")) << status.error_message();
  EXPECT_EQ(answered, std::vector<uint64_t>{1}) << "the read before it is answered, none after";
}

// The writer holds a short batch while enough writes are out; a message sent with gRPC's
// buffer hint is reported written while it still sits in gRPC's buffer, so holding the batch
// after it would wait for answers to writes that never left (the stream stalls for good).
// 4 KiB pages pack 15 to a 64 KiB message: windows from 9 to 31 cover every threshold a
// buffered message can reach. With the server's max_message_bytes as the batch size (as
// blockctl and blockbench use it) no batch is ever full, so every threshold holds.
TEST_F(BlockServiceTest, PageWriterNeverStallsWhateverItsWindow) {
  Start();
  std::unique_ptr<Client> client = NewClient();
  constexpr uint32_t kSmallPage = 4096;
  constexpr uint64_t kPages = 64;
  constexpr int kWrites = 3000;
  ASSERT_TRUE(client->CreateVolume("small", kPages * kSmallPage, kSmallPage, kSmallPage).ok());
  absl::StatusOr<v1::VolumeInfo> info = client->GetVolumeInfo("small");
  ASSERT_TRUE(info.ok()) << info.status();
  for (const size_t batch_bytes :
       {PageWriter::kDefaultMaxBatchBytes, PageWriter::MaxBatchBytesFor(*info)})
    for (const size_t window : {1, 9, 16, 17, 24, 31, 32, 64}) {
      SCOPED_TRACE(absl::StrCat("window ", window, ", batches up to ", batch_bytes, " bytes"));
      std::unique_ptr<PageWriter> writer = client->NewPageWriter(window, batch_bytes);
      std::vector<std::string> image;
      absl::Notification finished;
      std::map<uint64_t, std::vector<absl::StatusCode>> answers;
      std::thread writing([&] {
        answers = WriteThrough(writer.get(), kWrites, kPages, &image, "small", kSmallPage);
        finished.Notify();
      });
      // A stalled writer blocks in Write() for ever: fail with a message rather than time out.
      if (!finished.WaitForNotificationWithTimeout(absl::Seconds(40))) {
        std::fprintf(stderr,
                     "PageWriter with window %zu stalled: %zu writes unanswered after 40 s\n",
                     window, writer->in_flight());
        std::abort();
      }
      writing.join();
      ASSERT_EQ(answers.size(), static_cast<size_t>(kWrites));
      for (const auto& [id, codes] : answers) {
        ASSERT_EQ(codes, std::vector<absl::StatusCode>{absl::StatusCode::kOk}) << "request " << id;
      }
      const PageWriter::SendStats stats = writer->send_stats();
      EXPECT_EQ(stats.writes, static_cast<uint64_t>(kWrites));
      ExpectVolumeHolds(client.get(), "small", image);
    }
}

// A page's bytes for write number `n`: the number in its first 8 bytes names the write.
std::string NumberedPage(uint64_t n, uint32_t page_size) {
  std::string data(page_size, static_cast<char>('a' + n % 26));
  std::memcpy(data.data(), &n, sizeof(n));
  return data;
}

// Which write (NumberedPage) each page of `volume` holds.
std::vector<uint64_t> WritesHeld(Client* client, const std::string& volume, uint64_t pages) {
  std::vector<uint64_t> held;
  for (uint64_t page = 0; page < pages; ++page) {
    absl::StatusOr<std::string> back = client->ReadPage(volume, page);
    EXPECT_TRUE(back.ok()) << back.status();
    uint64_t n = UINT64_MAX;
    if (back.ok()) std::memcpy(&n, back->data(), sizeof(n));
    held.push_back(n);
  }
  return held;
}

// The proto's promise: writes of one stream are taken in the order they were sent, answered or
// not, so the last write sent to a page is what it holds. Method: many writes back to back
// over 4 pages, so every message holds writes of every page and a window of up to 256 keeps
// several messages in the server at once, 10 rounds of each stream; after each, the pages must
// hold the last write of each. (The server once let two messages of a stream into the engine
// at the same time, and a page kept an earlier write about once in 30 runs of the test
// above under load.)
TEST_F(BlockServiceTest, WritesOfOneStreamAreTakenInTheOrderTheyWereSent) {
  Start();
  std::unique_ptr<Client> client = NewClient();
  constexpr uint32_t kSmallPage = 4096;
  constexpr uint64_t kPages = 4;
  constexpr uint64_t kWritesPerRound = 2000;
  ASSERT_TRUE(client->CreateVolume("small", kPages * kSmallPage, kSmallPage, kSmallPage).ok());
  uint64_t n = 0;
  for (int round = 0; round < 10; ++round) {
    SCOPED_TRACE(absl::StrCat("PageWriter round ", round));
    std::unique_ptr<PageWriter> writer = client->NewPageWriter(256);
    std::atomic<uint64_t> failed{0};
    for (uint64_t i = 0; i < kWritesPerRound; ++i, ++n) {
      ASSERT_TRUE(writer
                      ->Write("small", n % kPages, 0, NumberedPage(n, kSmallPage), false,
                              [&failed](const WriteResult& result) {
                                if (!result.status.ok()) failed.fetch_add(1);
                              })
                      .ok());
    }
    ASSERT_TRUE(writer->Finish().ok());
    ASSERT_EQ(failed.load(), 0u);
    EXPECT_THAT(WritesHeld(client.get(), "small", kPages),
                ::testing::ElementsAre(n - 4, n - 3, n - 2, n - 1));
  }
  for (int round = 0; round < 10; ++round) {
    SCOPED_TRACE(absl::StrCat("WritePages round ", round));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    std::unique_ptr<grpc::ClientReaderWriter<v1::WritePageRequest, v1::WritePageResponse>> stream =
        client->stub()->WritePages(&context);
    // Answers are read as they come, so the server never stops reading for want of a reader.
    uint64_t answered = 0;
    uint64_t failed = 0;
    std::thread reader([&] {
      v1::WritePageResponse response;
      while (stream->Read(&response)) {
        ++answered;
        if (response.code() != 0) ++failed;
      }
    });
    for (uint64_t i = 0; i < kWritesPerRound; ++i, ++n) {
      ASSERT_TRUE(stream->Write(
          TestWritePageRequest("small", n % kPages, 0, NumberedPage(n, kSmallPage), n + 1)));
    }
    ASSERT_TRUE(stream->WritesDone());
    reader.join();
    ASSERT_TRUE(stream->Finish().ok());
    ASSERT_EQ(answered, kWritesPerRound);
    ASSERT_EQ(failed, 0u);
    EXPECT_THAT(WritesHeld(client.get(), "small", kPages),
                ::testing::ElementsAre(n - 4, n - 3, n - 2, n - 1));
  }
}

// Streams hold memory and engine work: past max_open_streams a new one of any kind fails
// RESOURCE_EXHAUSTED at once, naming the limit, and a stream that ends gives its place back.
TEST_F(BlockServiceTest, StreamsPastTheServersLimitAreRefusedAndPlacesComeBack) {
  service_options_.max_open_streams = 2;
  Start();
  std::unique_ptr<Client> client = NewClient();
  ASSERT_TRUE(client->CreateVolume("vol", 16 * kPageSize, kPageSize, kBlockSize).ok());
  auto open_write_stream = [&](grpc::ClientContext* context) {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return client->stub()->WritePages(context);
  };
  grpc::ClientContext first_context;
  auto first = open_write_stream(&first_context);
  grpc::ClientContext second_context;
  auto second = open_write_stream(&second_context);
  // Both are open once each has answered a write.
  v1::WritePageResponse response;
  for (auto* stream : {first.get(), second.get()}) {
    ASSERT_TRUE(stream->Write(TestWritePageRequest("vol", 0, 0, std::string(kPageSize, 'x'), 1)));
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.code(), 0) << response.message();
  }

  // A third stream of each kind is refused, and unary calls still work.
  grpc::ClientContext third_context;
  auto third = open_write_stream(&third_context);
  EXPECT_FALSE(third->Read(&response));
  const grpc::Status refused = third->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.error_message().find("too many open streams"), std::string::npos)
      << refused.error_message();
  const absl::Status flush = client->Flush("vol");
  EXPECT_EQ(flush.code(), absl::StatusCode::kResourceExhausted) << flush;
  const absl::Status read_pages =
      client->ReadPages("vol", 0, 1, [](uint64_t, absl::string_view) { return absl::OkStatus(); });
  EXPECT_EQ(read_pages.code(), absl::StatusCode::kResourceExhausted) << read_pages;
  EXPECT_TRUE(client->WritePage("vol", 1, 0, std::string(kPageSize, 'u')).ok());

  // One stream ends: its place is free again.
  ASSERT_TRUE(first->WritesDone());
  EXPECT_TRUE(first->Finish().ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  absl::Status again = client->Flush("vol");
  while (!again.ok() && absl::Now() < deadline) {  // the reactor is deleted just after Finish
    absl::SleepFor(absl::Milliseconds(10));
    again = client->Flush("vol");
  }
  EXPECT_TRUE(again.ok()) << again;
  ASSERT_TRUE(second->WritesDone());
  EXPECT_TRUE(second->Finish().ok());
}

TEST_F(BlockServiceTest, CancellingABatchStreamWithParkedWritesLeavesTheServerWorking) {
  VolumeOptions options;
  options.cache_bytes = 4 << 20;
  options.dirty_limit_bytes = 4 * kPageSize;
  options.dirty_background_bytes = 2 * kPageSize;
  Start(options);
  std::unique_ptr<Client> client = NewClient();
  ASSERT_TRUE(client->CreateVolume("vol", 64 * kPageSize, kPageSize, kBlockSize).ok());
  // Writeback cannot take a bio: past the dirty limit, writes park in the engine.
  faulty_.FailAllocationsAt(faulty_.AllocationCalls() + 1, UINT64_MAX);
  {
    std::unique_ptr<PageWriter> writer = client->NewPageWriter(16);
    for (int page = 0; page < 12; ++page) {
      ASSERT_TRUE(writer->Write("vol", page, 0, std::string(kPageSize, 'p'), false, nullptr).ok());
    }
    // Some writes are parked on the dirty limit: the server's reactor holds their batches.
    ASSERT_TRUE(WaitForParkedWrite("vol"));
    EXPECT_GT(writer->in_flight(), 0u);
  }                                 // cancels the stream with writes in the engine
  faulty_.FailAllocationsAt(1, 0);  // a window of no calls: off; the parked writes go on
  // Their callbacks end the call, once: it was cancelled.
  EXPECT_EQ(metrics_.WaitForFinished(RpcMethod::kWritePageBatches, 1),
            std::vector<absl::StatusCode>{absl::StatusCode::kCancelled});

  const std::string data(kPageSize, 'n');
  ASSERT_TRUE(client->WritePage("vol", 40, 0, data).ok());
  EXPECT_TRUE(client->Flush("vol").ok());
  absl::StatusOr<std::string> back = client->ReadPage("vol", 40);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, data);
  // Stop() in TearDown shuts the gRPC server down, which waits for the cancelled reactor.
}

// The tests below cancel a stream mid-stream over a real connection while work of the stream is
// still out (parked in the engine, read ahead, or under writeback), then let that work end.
// The server finishes the call exactly once (RecordingMetrics sees each Finish), goes on
// serving, and frees the reactor (ASan runs this test in tools/test.sh; Stop() in TearDown
// waits for every reactor).

TEST_F(BlockServiceTest, CancellingAWritePagesStreamWithParkedWritesFinishesItOnce) {
  // Method: 12 writes on a raw WritePages stream while writeback cannot take a bio, so the
  // writes past the dirty limit park in the engine; read one answer, cancel, then let
  // writeback go on, so the parked writes call back into the cancelled stream.
  VolumeOptions options;
  options.cache_bytes = 4 << 20;
  options.dirty_limit_bytes = 4 * kPageSize;
  options.dirty_background_bytes = 2 * kPageSize;
  Start(options);
  std::unique_ptr<Client> client = NewClient();
  ASSERT_TRUE(client->CreateVolume("vol", 64 * kPageSize, kPageSize, kBlockSize).ok());
  faulty_.FailAllocationsAt(faulty_.AllocationCalls() + 1, UINT64_MAX);
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    std::unique_ptr<grpc::ClientReaderWriter<v1::WritePageRequest, v1::WritePageResponse>> stream =
        client->stub()->WritePages(&context);
    for (int page = 0; page < 12; ++page) {
      ASSERT_TRUE(stream->Write(TestWritePageRequest("vol", page, 0, std::string(kPageSize, 'p'),
                                                     /*request_id=*/page + 1)));
    }
    v1::WritePageResponse response;
    ASSERT_TRUE(stream->Read(&response));  // the server reads, writes and sends
    EXPECT_EQ(response.code(), 0) << response.message();
    ASSERT_TRUE(WaitForParkedWrite("vol"));
    context.TryCancel();
    while (stream->Read(&response)) {
    }
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  faulty_.FailAllocationsAt(1, 0);  // a window of no calls: off; the parked writes go on
  EXPECT_EQ(metrics_.WaitForFinished(RpcMethod::kWritePages, 1),
            std::vector<absl::StatusCode>{absl::StatusCode::kCancelled});

  const std::string data(kPageSize, 'n');
  ASSERT_TRUE(client->WritePage("vol", 40, 0, data).ok());
  EXPECT_TRUE(client->Flush("vol").ok());
  absl::StatusOr<std::string> back = client->ReadPage("vol", 40);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, data);
}

TEST_F(BlockServiceTest, CancellingAReadPagesStreamMidStreamFinishesItOnce) {
  // Method: read 256 pages (4 MiB) on a channel whose receive window stays at 64 KiB, so the
  // server cannot have sent them all; take one page, cancel, and drain what had arrived.
  Start();
  std::unique_ptr<Client> client = NewClient();
  constexpr uint64_t kPages = 256;
  ASSERT_TRUE(client->CreateVolume("vol", kPages * kPageSize, kPageSize, kBlockSize).ok());
  ASSERT_TRUE(client->WritePage("vol", 0, 0, std::string(kPageSize, 'r')).ok());
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 * 1024);
  std::unique_ptr<v1::BlockStore::Stub> stub = v1::BlockStore::NewStub(
      grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args));
  {
    v1::ReadPagesRequest request;
    request.set_volume("vol");
    request.set_first_page_index(0);
    request.set_page_count(kPages);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    std::unique_ptr<grpc::ClientReader<v1::ReadPageResponse>> reader =
        stub->ReadPages(&context, request);
    v1::ReadPageResponse page;
    ASSERT_TRUE(reader->Read(&page));
    EXPECT_EQ(page.page_index(), 0u);
    EXPECT_EQ(page.data(), std::string(kPageSize, 'r'));
    context.TryCancel();
    uint64_t received = 1;
    while (reader->Read(&page)) ++received;
    EXPECT_LT(received, kPages);
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  EXPECT_EQ(metrics_.WaitForFinished(RpcMethod::kReadPages, 1),
            std::vector<absl::StatusCode>{absl::StatusCode::kCancelled});
  absl::StatusOr<std::string> back = client->ReadPage("vol", 0);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, std::string(kPageSize, 'r'));
}

TEST_F(BlockServiceTest, CancellingAFlushUnderWritebackFinishesItOnce) {
  // Method: the flusher leaves the page alone (dirty_expire of an hour), so the first bio
  // wanted after the Flush call is the Flush's own: it is refused, and the refusal's hook
  // holds the engine's writeback thread there, the observer still in the engine's hands.
  // Cancel the call, make one more call on the same connection (its frames follow the
  // cancellation's), then let writeback go on: the flush ends and calls back into the
  // cancelled call. The server normally sees the cancellation first (CANCELLED); should the
  // flush end first, the call finishes OK. Either way, once.
  Start(VolumeOptions(), /*dirty_expire=*/absl::Hours(1));
  std::unique_ptr<Client> client = NewClient();
  ASSERT_TRUE(client->CreateVolume("vol", 16 * kPageSize, kPageSize, kBlockSize).ok());
  ASSERT_TRUE(client->WritePage("vol", 3, 0, std::string(kPageSize, 'f')).ok());
  absl::Notification refused;
  absl::Notification resume;
  std::atomic<bool> first_refusal{true};
  faulty_.SetOnAllocationFailure([&] {
    if (!first_refusal.exchange(false)) return;
    refused.Notify();
    resume.WaitForNotification();
  });
  auto resume_writeback = absl::MakeCleanup([&] {
    faulty_.FailAllocationsAt(1, 0);  // a window of no calls: off
    if (!resume.HasBeenNotified()) resume.Notify();
  });
  faulty_.FailAllocationsAt(faulty_.AllocationCalls() + 1, UINT64_MAX);
  {
    v1::FlushRequest request;
    request.set_volume("vol");
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    std::unique_ptr<grpc::ClientReader<v1::FlushEvent>> reader =
        client->stub()->Flush(&context, request);
    ASSERT_TRUE(refused.WaitForNotificationWithTimeout(absl::Seconds(20)))
        << "the flush never asked for a bio";
    context.TryCancel();
    v1::FlushEvent event;
    while (reader->Read(&event)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  ASSERT_TRUE(client->GetVolumeInfo("vol").ok());
  std::move(resume_writeback).Invoke();
  const std::vector<absl::StatusCode> finished = metrics_.WaitForFinished(RpcMethod::kFlush, 1);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_TRUE(finished[0] == absl::StatusCode::kCancelled || finished[0] == absl::StatusCode::kOk)
      << absl::StatusCodeToString(finished[0]);
  faulty_.SetOnAllocationFailure(nullptr);

  // The flush went on in the engine: the page is clean, and the next Flush is OK.
  EXPECT_TRUE(client->Flush("vol").ok());
  absl::StatusOr<v1::VolumeInfo> info = client->GetVolumeInfo("vol");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->dirty_pages(), 0u);
}

// Flushes "vol" on a raw stream; returns how often each page was reported, and checks the
// event kinds: only `page` events without grouping, only `pages` events with it, and the
// summary once, last.
std::map<uint64_t, int> RawFlush(v1::BlockStore::Stub* stub, bool group_page_events,
                                 absl::Duration read_after = absl::ZeroDuration()) {
  v1::FlushRequest request;
  request.set_volume("vol");
  request.set_group_page_events(group_page_events);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto reader = stub->Flush(&context, request);
  absl::SleepFor(read_after);  // a client slow to read: the page results wait in the server
  std::map<uint64_t, int> reported;
  v1::FlushEvent event;
  int summaries = 0;
  while (reader->Read(&event)) {
    EXPECT_EQ(summaries, 0) << "an event after the summary";
    switch (event.event_case()) {
      case v1::FlushEvent::kPage:
        EXPECT_FALSE(group_page_events) << "a single page event although grouping was asked";
        ++reported[event.page().page_index()];
        break;
      case v1::FlushEvent::kPages:
        EXPECT_TRUE(group_page_events) << "a grouped event although nobody asked";
        EXPECT_GT(event.pages().pages_size(), 0);
        for (const v1::PageCompletion& page : event.pages().pages()) {
          EXPECT_EQ(page.code(), 0);
          ++reported[page.page_index()];
        }
        break;
      case v1::FlushEvent::kSummary:
        ++summaries;
        EXPECT_EQ(event.summary().code(), 0);
        EXPECT_EQ(event.summary().pages_written(), reported.size());
        break;
      default:
        ADD_FAILURE() << "an empty event";
    }
  }
  EXPECT_EQ(summaries, 1);
  EXPECT_TRUE(reader->Finish().ok());
  return reported;
}

TEST_F(BlockServiceTest, FlushGroupsPageEventsOnlyWhenAsked) {
  Start();
  std::unique_ptr<Client> client = NewClient();
  constexpr uint64_t kPages = 64;
  ASSERT_TRUE(client->CreateVolume("vol", kPages * kPageSize, kPageSize, kBlockSize).ok());
  std::map<uint64_t, int> every_page_once;
  for (uint64_t page = 0; page < kPages; ++page) every_page_once[page] = 1;
  for (const bool group : {false, true}) {
    SCOPED_TRACE(group ? "grouped" : "one event per page");
    ASSERT_TRUE(
        client->WriteRange("vol", 0, std::string(kPages * kPageSize, group ? 'g' : 'o')).ok());
    EXPECT_EQ(RawFlush(client->stub(), group), every_page_once);
  }
}

// A Flush of many pages whose client reads only once the flush is over: the results waited in
// the server (as runs of pages, FlushEventQueue) and every page is still reported exactly once,
// before the summary, grouped or not.
TEST_F(BlockServiceTest, AFlushReadLateReportsEveryPageOnce) {
  // The flusher must not write pages back before the Flush starts (a slow build writes the
  // 16 MiB slowly): no background threshold or expiry within reach.
  VolumeOptions options;
  options.dirty_limit_bytes = 64 << 20;
  options.dirty_background_bytes = 64 << 20;
  Start(options, /*dirty_expire=*/absl::Hours(1));
  std::unique_ptr<Client> client = NewClient();
  constexpr uint64_t kPages = 1024;
  ASSERT_TRUE(client->CreateVolume("vol", kPages * kPageSize, kPageSize, kBlockSize).ok());
  std::map<uint64_t, int> every_page_once;
  for (uint64_t page = 0; page < kPages; ++page) every_page_once[page] = 1;
  for (const bool group : {false, true}) {
    SCOPED_TRACE(group ? "grouped" : "one event per page");
    ASSERT_TRUE(
        client->WriteRange("vol", 0, std::string(kPages * kPageSize, group ? 'G' : 'O')).ok());
    EXPECT_EQ(RawFlush(client->stub(), group, absl::Milliseconds(500)), every_page_once);
  }
}

TEST_F(BlockServiceTest, ReadPagesStreamsInOrderPastTheReadAheadWindow) {
  Start();
  std::unique_ptr<Client> client = NewClient();
  constexpr uint64_t kPages = 100;  // more than the 16-page read-ahead window
  ASSERT_TRUE(client->CreateVolume("vol", kPages * kPageSize, kPageSize, kBlockSize).ok());
  std::string image;
  for (uint64_t page = 0; page < kPages; ++page) {
    image += std::string(kPageSize, static_cast<char>('A' + page % 26));
  }
  ASSERT_TRUE(client->WriteRange("vol", 0, image, 32).ok());
  ASSERT_TRUE(client->Flush("vol").ok());
  std::string back;
  uint64_t next = 0;
  ASSERT_TRUE(client
                  ->ReadPages("vol", 0, kPages,
                              [&](uint64_t index, absl::string_view data) {
                                if (index != next++) return absl::InternalError("out of order");
                                back.append(data.data(), data.size());
                                return absl::OkStatus();
                              })
                  .ok());
  EXPECT_EQ(back, image);
}

// A name that is not UTF-8 (a C++ client sends one: protobuf only logs) makes the message
// unparsable. The service parses requests itself, so each call answers INVALID_ARGUMENT naming
// the field, and a write stream ends INVALID_ARGUMENT at that message after answering every
// write before it, instead of gRPC's UNIMPLEMENTED or a stream that ends OK and drops writes.
TEST_F(BlockServiceTest, ANameThatIsNotUtf8IsInvalidArgumentOnEveryCallAndEndsAStreamSaying) {
  Start();
  std::unique_ptr<Client> client = NewClient();
  ASSERT_TRUE(client->CreateVolume("vol", 16 * kPageSize, kPageSize, kBlockSize).ok());
  const std::string bad("v\xff\xfe");
  v1::BlockStore::Stub* stub = client->stub();
  auto expect_invalid = [](const grpc::Status& status, const std::string& field) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_TRUE(absl::StartsWith(status.error_message(), field + ": not valid UTF-8"))
        << status.error_message();
  };
  {
    grpc::ClientContext context;
    v1::CreateVolumeRequest request;
    request.set_name(bad);
    request.set_size_bytes(kPageSize);
    v1::VolumeInfo info;
    expect_invalid(stub->CreateVolume(&context, request, &info), "name");
  }
  {
    grpc::ClientContext context;
    v1::WritePageRequest request;
    request.set_volume(bad);
    request.set_data(std::string(kBlockSize, 'x'));
    v1::WritePageResponse response;
    expect_invalid(stub->WritePage(&context, request, &response), "volume");
  }
  {
    grpc::ClientContext context;
    v1::ReadPagesRequest request;
    request.set_volume(bad);
    request.set_page_count(1);
    std::unique_ptr<grpc::ClientReader<v1::ReadPageResponse>> reader =
        stub->ReadPages(&context, request);
    v1::ReadPageResponse page;
    EXPECT_FALSE(reader->Read(&page));
    expect_invalid(reader->Finish(), "volume");
  }
  {
    // Write 0 is good, write 1 names the bad volume, write 2 is good: 0 is answered and taken,
    // the stream ends at 1, and 2 is not taken.
    grpc::ClientContext context;
    auto stream = stub->WritePages(&context);
    for (int i = 0; i < 3; ++i) {
      v1::WritePageRequest request;
      request.set_volume(i == 1 ? bad : "vol");
      request.set_page_index(i);
      request.set_request_id(i);
      request.set_data(std::string(kPageSize, static_cast<char>('0' + i)));
      stream->Write(request);
    }
    stream->WritesDone();
    std::vector<uint64_t> answered;
    v1::WritePageResponse response;
    while (stream->Read(&response)) {
      EXPECT_EQ(response.code(), 0) << response.message();
      answered.push_back(response.request_id());
    }
    expect_invalid(stream->Finish(), "volume");
    EXPECT_EQ(answered, std::vector<uint64_t>{0});
  }
  {
    grpc::ClientContext context;
    auto stream = stub->WritePageBatches(&context);
    v1::WritePageBatchRequest batch;
    for (int i = 0; i < 2; ++i) {
      v1::WritePageRequest* write = batch.add_writes();
      write->set_volume(i == 1 ? bad : "vol");
      write->set_page_index(5);
      write->set_request_id(i);
      write->set_data(std::string(kPageSize, 'b'));
    }
    stream->Write(batch);
    stream->WritesDone();
    v1::WritePageBatchResponse response;
    EXPECT_FALSE(stream->Read(&response));  // no write of the batch is taken
    expect_invalid(stream->Finish(), "writes[1].volume");
  }
  absl::StatusOr<std::string> page0 = client->ReadPage("vol", 0);
  ASSERT_TRUE(page0.ok()) << page0.status();
  EXPECT_EQ(*page0, std::string(kPageSize, '0'));
  for (uint64_t untaken : {2, 5}) {
    absl::StatusOr<std::string> page = client->ReadPage("vol", untaken);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_EQ(*page, std::string(kPageSize, '\0')) << "page " << untaken << " was written";
  }
  absl::StatusOr<std::vector<v1::VolumeInfo>> volumes = client->ListVolumes();
  ASSERT_TRUE(volumes.ok());
  EXPECT_EQ(volumes->size(), 1u);
  Stop();
}

}  // namespace
}  // namespace blockstore
