// Client's following of a volume (block_client.h, "Following a volume") against fake servers
// in process: each a real gRPC server on 127.0.0.1 that serves the volume, refuses it naming
// an owner (FAILED_PRECONDITION with the trailer `blockstore-owner`), or answers UNAVAILABLE,
// as the test scripts it; the servers share one volume as blockstoreds share an RBD pool. A
// server "dies" by shutting down: its port then refuses connections. No sleeps: servers take
// a volume over on a counted LocateVolume, as a real one does when asked after a failover.

#include "client/block_client.h"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "blockstore/v1/blockstore.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace blockstore {
namespace {

constexpr char kVolume[] = "vol";
constexpr uint32_t kPage = 4096;
constexpr uint64_t kPages = 16;

// What the fake servers share: the volume's pages and its incarnation, the upper 32 bits of
// the error cursors it issues (a new one after an unclean stop).
struct FakePool {
  absl::Mutex mu;
  std::map<uint64_t, std::string> pages ABSL_GUARDED_BY(mu);
  uint32_t incarnation ABSL_GUARDED_BY(mu) = 1;
};

// A blockstore.v1 server on 127.0.0.1:0 with scripted ownership of kVolume. Thread-safe.
class FakeServer final : public v1::BlockStore::Service {
 public:
  enum class Mode { kServe, kRefuse, kUnavailable, kCancelled };

  explicit FakeServer(FakePool* pool, Mode mode = Mode::kServe, std::string owner = "")
      : pool_(pool), mode_(mode), owner_(std::move(owner)) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
    address_ = absl::StrCat("127.0.0.1:", port);
  }
  ~FakeServer() override { Kill(); }

  const std::string& address() const { return address_; }

  // Stops at once, cancelling open calls: the port refuses connections from now on.
  void Kill() ABSL_LOCKS_EXCLUDED(mu_) {
    std::unique_ptr<grpc::Server> server;
    {
      absl::MutexLock lock(&mu_);
      server = std::move(server_);
    }
    if (server == nullptr) return;
    server->Shutdown(std::chrono::system_clock::now());
    server->Wait();
  }

  void Serve() ABSL_LOCKS_EXCLUDED(mu_) { Set(Mode::kServe, ""); }
  void Refuse(const std::string& owner) ABSL_LOCKS_EXCLUDED(mu_) { Set(Mode::kRefuse, owner); }
  void FailUnavailable() ABSL_LOCKS_EXCLUDED(mu_) { Set(Mode::kUnavailable, ""); }
  // As BlockServer::Shutdown answers calls that come after its drain.
  void FailCancelled() ABSL_LOCKS_EXCLUDED(mu_) { Set(Mode::kCancelled, ""); }
  // What LocateVolume answers from now on; by default this server when it serves, else the
  // owner it names.
  void SetLocated(const std::string& owner, bool served_here) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    located_ = std::make_pair(owner, served_here);
  }
  // The `asks`th LocateVolume (counted from now) takes the volume over: this server serves it
  // from then on, at a new incarnation unless `clean` (a handover).
  void TakeOverAtAsk(int asks, bool clean = false) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    take_over_at_ask_ = calls_["LocateVolume"] + asks;
    clean_take_over_ = clean;
  }
  // ReadPages streams this many pages, then ends UNAVAILABLE; -1: all.
  void FailReadPagesAfter(int pages) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    read_pages_fail_after_ = pages;
  }
  // Writes on WritePageBatches streams answer UNAVAILABLE (the rest works).
  void FailStreamWrites(bool fail) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    fail_stream_writes_ = fail;
  }

  int calls(const std::string& method) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto it = calls_.find(method);
    return it == calls_.end() ? 0 : it->second;
  }
  // The last ReadPages request.
  v1::ReadPagesRequest last_read_pages() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return last_read_pages_;
  }

  grpc::Status GetVolumeInfo(grpc::ServerContext* context, const v1::GetVolumeInfoRequest*,
                             v1::VolumeInfo* info) override {
    if (grpc::Status refused = Admit(context, "GetVolumeInfo"); !refused.ok()) return refused;
    info->set_name(kVolume);
    info->set_size_bytes(kPages * kPage);
    info->set_page_size_bytes(kPage);
    info->set_block_size_bytes(kPage);
    info->set_page_count(kPages);
    info->set_error_cursor(Cursor());
    return grpc::Status::OK;
  }

  grpc::Status LocateVolume(grpc::ServerContext*, const v1::LocateVolumeRequest*,
                            v1::LocateVolumeResponse* response) override {
    absl::MutexLock lock(&mu_);
    const int ask = ++calls_["LocateVolume"];
    if (ask == take_over_at_ask_) {
      mode_ = Mode::kServe;
      located_.reset();
      if (!clean_take_over_) {
        absl::MutexLock pool_lock(&pool_->mu);
        ++pool_->incarnation;
      }
    }
    if (located_.has_value()) {
      response->set_owner(located_->first);
      response->set_served_here(located_->second);
    } else if (mode_ == Mode::kServe) {
      response->set_owner(address_);
      response->set_served_here(true);
    } else {
      response->set_owner(owner_);
    }
    return grpc::Status::OK;
  }

  grpc::Status WritePage(grpc::ServerContext* context, const v1::WritePageRequest* request,
                         v1::WritePageResponse*) override {
    if (grpc::Status refused = Admit(context, "WritePage"); !refused.ok()) return refused;
    Store(*request);
    return grpc::Status::OK;
  }

  grpc::Status WritePageBatches(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::WritePageBatchResponse, v1::WritePageBatchRequest>* stream)
      override {
    Count("WritePageBatches");
    v1::WritePageBatchRequest batch;
    while (stream->Read(&batch)) {
      v1::WritePageBatchResponse response;
      for (const v1::WritePageRequest& write : batch.writes()) {
        v1::WritePageResponse* result = response.add_results();
        result->set_request_id(write.request_id());
        result->set_page_index(write.page_index());
        bool fail;
        {
          absl::MutexLock lock(&mu_);
          fail = fail_stream_writes_ || mode_ != Mode::kServe;
        }
        if (fail) {
          result->set_code(static_cast<int>(grpc::StatusCode::UNAVAILABLE));
          result->set_message("not now");
        } else {
          Store(write);
        }
      }
      if (!stream->Write(response)) break;
    }
    return grpc::Status::OK;
  }

  grpc::Status ReadPage(grpc::ServerContext* context, const v1::ReadPageRequest* request,
                        v1::ReadPageResponse* response) override {
    if (grpc::Status refused = Admit(context, "ReadPage"); !refused.ok()) return refused;
    response->set_page_index(request->page_index());
    response->set_data(Load(request->page_index()));
    return grpc::Status::OK;
  }

  grpc::Status ReadPages(grpc::ServerContext* context, const v1::ReadPagesRequest* request,
                         grpc::ServerWriter<v1::ReadPageResponse>* writer) override {
    if (grpc::Status refused = Admit(context, "ReadPages"); !refused.ok()) return refused;
    int fail_after;
    {
      absl::MutexLock lock(&mu_);
      last_read_pages_ = *request;
      fail_after = read_pages_fail_after_;
    }
    for (uint64_t i = 0; i < request->page_count(); ++i) {
      if (fail_after >= 0 && i == static_cast<uint64_t>(fail_after)) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection lost");
      }
      v1::ReadPageResponse response;
      response.set_page_index(request->first_page_index() + i);
      response.set_data(Load(response.page_index()));
      if (!writer->Write(response)) break;
    }
    return grpc::Status::OK;
  }

  grpc::Status Flush(grpc::ServerContext* context, const v1::FlushRequest* request,
                     grpc::ServerWriter<v1::FlushEvent>* writer) override {
    if (grpc::Status refused = Admit(context, "Flush"); !refused.ok()) return refused;
    const uint64_t cursor = Cursor();
    // A cursor of an earlier incarnation: the volume stopped uncleanly since it was issued.
    const bool lost = request->has_error_cursor() && request->error_cursor() >> 32 != cursor >> 32;
    v1::FlushEvent event;
    v1::FlushSummary* summary = event.mutable_summary();
    summary->set_error_cursor(cursor);
    if (lost) {
      summary->set_code(static_cast<int>(grpc::StatusCode::DATA_LOSS));
      summary->set_message("restarted after an unclean stop");
    }
    writer->Write(event);
    return lost ? grpc::Status(grpc::StatusCode::DATA_LOSS, "restarted after an unclean stop")
                : grpc::Status::OK;
  }

 private:
  void Set(Mode mode, const std::string& owner) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    mode_ = mode;
    owner_ = owner;
    located_.reset();
  }

  void Count(const std::string& method) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    ++calls_[method];
  }

  // Counts the call; OK when this server serves the volume, else its refusal.
  grpc::Status Admit(grpc::ServerContext* context, const std::string& method)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    ++calls_[method];
    switch (mode_) {
      case Mode::kServe:
        return grpc::Status::OK;
      case Mode::kRefuse:
        context->AddTrailingMetadata("blockstore-owner", owner_);
        return grpc::Status(
            grpc::StatusCode::FAILED_PRECONDITION,
            absl::StrCat("volume: ", kVolume, " is served by blockstored at ", owner_));
      case Mode::kUnavailable:
        break;
      case Mode::kCancelled:
        return grpc::Status(grpc::StatusCode::CANCELLED, "the server is shutting down");
    }
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is stopping");
  }

  uint64_t Cursor() {
    absl::MutexLock lock(&pool_->mu);
    return uint64_t{pool_->incarnation} << 32;
  }
  void Store(const v1::WritePageRequest& write) {
    absl::MutexLock lock(&pool_->mu);
    std::string& page = pool_->pages[write.page_index()];
    page.resize(kPage, '\0');
    page.replace(write.offset_bytes(), write.data().size(), write.data());
  }
  std::string Load(uint64_t page_index) {
    absl::MutexLock lock(&pool_->mu);
    auto it = pool_->pages.find(page_index);
    return it == pool_->pages.end() ? std::string(kPage, '\0') : it->second;
  }

  FakePool* const pool_;
  std::string address_;  // constant after construction
  mutable absl::Mutex mu_;
  std::unique_ptr<grpc::Server> server_ ABSL_GUARDED_BY(mu_);
  Mode mode_ ABSL_GUARDED_BY(mu_);
  std::string owner_ ABSL_GUARDED_BY(mu_);
  absl::optional<std::pair<std::string, bool>> located_ ABSL_GUARDED_BY(mu_);
  int take_over_at_ask_ ABSL_GUARDED_BY(mu_) = -1;
  bool clean_take_over_ ABSL_GUARDED_BY(mu_) = false;
  int read_pages_fail_after_ ABSL_GUARDED_BY(mu_) = -1;
  bool fail_stream_writes_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, int> calls_ ABSL_GUARDED_BY(mu_);
  v1::ReadPagesRequest last_read_pages_ ABSL_GUARDED_BY(mu_);
};

std::string PageOf(char c) { return std::string(kPage, c); }

std::unique_ptr<Client> OpenFor(const FakeServer& discovery, ClientOptions options = {}) {
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::OpenForVolume(discovery.address(), kVolume, options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

// A volume's owner and a discovery address (another server, which names the owner), as a
// Kubernetes Service in front of two replicas would be.
class ClientFollowTest : public ::testing::Test {
 protected:
  FakePool pool_;
  FakeServer owner_{&pool_};
  FakeServer discovery_{&pool_, FakeServer::Mode::kRefuse, owner_.address()};
};

TEST_F(ClientFollowTest, APlainClientReportsRefusalsAndDeadServersAndDoesNotFollow) {
  FakePool pool;
  FakeServer owner(&pool);
  FakeServer other(&pool, FakeServer::Mode::kRefuse, owner.address());
  std::unique_ptr<Client> client = Client::Connect(other.address());
  ASSERT_NE(client, nullptr);
  const absl::Status refused = client->WritePage(kVolume, 0, 0, PageOf('a'));
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), owner.address())) << refused;
  EXPECT_EQ(owner.calls("WritePage"), 0);
  EXPECT_EQ(client->target(), other.address());
  EXPECT_EQ(client->FollowVolume(kVolume).status().code(), absl::StatusCode::kFailedPrecondition);

  other.Kill();
  const absl::Time start = absl::Now();
  EXPECT_EQ(client->GetVolumeInfo(kVolume).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5)) << "a plain client waited for a failover";
  EXPECT_EQ(owner.calls("LocateVolume"), 0);
}

// An address where nothing answers at open is a mistake to report, not a failover: until a
// server has answered, a call fails UNAVAILABLE at once instead of waiting failover_timeout
// (blockctl with a wrong --server).
TEST_F(ClientFollowTest, OpenForVolumeOnAnAddressWhereNothingAnswersDoesNotWaitForAFailover) {
  FakePool pool;
  auto gone = std::make_unique<FakeServer>(&pool);
  const std::string address = gone->address();
  gone.reset();  // its port is closed now
  ClientOptions options;
  options.failover_timeout = absl::Seconds(60);
  absl::StatusOr<std::unique_ptr<Client>> client = Client::OpenForVolume(address, kVolume, options);
  ASSERT_TRUE(client.ok()) << client.status();
  const absl::Time start = absl::Now();
  EXPECT_EQ((*client)->WritePage(kVolume, 0, 0, PageOf('a')).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "waited for a failover";
}

TEST_F(ClientFollowTest, OpenForVolumeTalksToTheOwnerAndFollowsTheOwnerARefusalNames) {
  FakePool pool;
  FakeServer a(&pool);
  FakeServer b(&pool);
  FakeServer discovery(&pool, FakeServer::Mode::kRefuse, a.address());
  std::unique_ptr<Client> client = OpenFor(discovery);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->target(), a.address());
  ASSERT_TRUE(client->WritePage(kVolume, 0, 0, PageOf('a')).ok());
  EXPECT_EQ(a.calls("WritePage"), 1);

  // A hands the volume to B: A's refusal names B, and the same call succeeds there.
  a.Refuse(b.address());
  ASSERT_TRUE(client->WritePage(kVolume, 1, 0, PageOf('b')).ok());
  EXPECT_EQ(client->target(), b.address());
  EXPECT_EQ(a.calls("WritePage"), 2);
  EXPECT_EQ(b.calls("WritePage"), 1);
  absl::StatusOr<std::string> read = client->ReadPage(kVolume, 0);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, PageOf('a'));

  // And back to A, through FlushAsync (on gRPC threads): a clean move, so the cursor holds.
  b.Refuse(a.address());
  a.Serve();
  absl::Notification flushed;
  FlushResult result;
  client->FlushAsync(kVolume, [&](FlushResult done) {
    result = std::move(done);
    flushed.Notify();
  });
  ASSERT_TRUE(flushed.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(result.status.ok()) << result.status;
  EXPECT_TRUE(result.has_summary);
  EXPECT_EQ(client->target(), a.address());
  EXPECT_EQ(b.calls("Flush"), 1);
  EXPECT_EQ(a.calls("Flush"), 1);
  EXPECT_EQ(discovery.calls("LocateVolume"), 1) << "a named owner needs no LocateVolume";
}

// Method: the owner dies; the discovery address names it (Ceph still sees its lock) for two
// more asks, then takes the volume over at a new incarnation. The same Client's next write
// succeeds there, its next Flush answers DATA_LOSS once (sent once, never again), the one
// after OK, and the flushed page reads back.
TEST_F(ClientFollowTest, AfterTheOwnerDiesACallWaitsForTheTakeOverAndTheFlushReportsTheLossOnce) {
  std::unique_ptr<Client> client = OpenFor(discovery_);
  ASSERT_NE(client, nullptr);
  ASSERT_EQ(client->target(), owner_.address());
  ASSERT_TRUE(client->WritePage(kVolume, 1, 0, PageOf('f')).ok());
  ASSERT_TRUE(client->Flush(kVolume).ok());

  owner_.Kill();
  discovery_.TakeOverAtAsk(3);
  ASSERT_TRUE(client->WritePage(kVolume, 2, 0, PageOf('w')).ok());
  EXPECT_EQ(client->target(), discovery_.address());
  EXPECT_EQ(discovery_.calls("LocateVolume"), 1 + 3);
  EXPECT_EQ(discovery_.calls("WritePage"), 1);

  FlushResult result;
  const absl::Status lost = client->Flush(kVolume, &result);
  EXPECT_EQ(lost.code(), absl::StatusCode::kDataLoss) << lost;
  EXPECT_TRUE(result.has_summary);
  EXPECT_EQ(discovery_.calls("Flush"), 1) << "a DATA_LOSS was sent again";
  EXPECT_TRUE(client->Flush(kVolume).ok());
  absl::StatusOr<std::string> read = client->ReadPage(kVolume, 1);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, PageOf('f'));
}

// The owner refuses calls while it stops (UNAVAILABLE, its channel still up); the client asks
// it again, paced, until the discovery address takes the volume over cleanly.
TEST_F(ClientFollowTest, AStoppingOwnerIsAskedAgainUntilTheVolumeIsHandedOver) {
  std::unique_ptr<Client> client = OpenFor(discovery_);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->WritePage(kVolume, 0, 0, PageOf('a')).ok());
  owner_.FailUnavailable();
  discovery_.TakeOverAtAsk(3, /*clean=*/true);
  ASSERT_TRUE(client->WritePage(kVolume, 1, 0, PageOf('b')).ok());
  EXPECT_EQ(client->target(), discovery_.address());
  EXPECT_GE(owner_.calls("WritePage"), 1 + 2) << "the stopping owner_ was not asked again";
  EXPECT_TRUE(client->Flush(kVolume).ok()) << "a clean handover lost nothing";
}

// A server shutting down cancels the calls that come after its drain: a handover, followed.
TEST_F(ClientFollowTest, ACallCancelledByAServerShuttingDownIsFollowed) {
  std::unique_ptr<Client> client = OpenFor(discovery_);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->WritePage(kVolume, 0, 0, PageOf('a')).ok());
  owner_.FailCancelled();
  discovery_.TakeOverAtAsk(1, /*clean=*/true);
  ASSERT_TRUE(client->WritePage(kVolume, 1, 0, PageOf('b')).ok());
  EXPECT_EQ(client->target(), discovery_.address());
}

TEST_F(ClientFollowTest, ACallGivesUpAfterFailoverTimeoutWithTheLastAnswer) {
  ClientOptions options;
  options.failover_timeout = absl::Milliseconds(500);
  std::unique_ptr<Client> client = OpenFor(discovery_, options);
  ASSERT_NE(client, nullptr);
  owner_.Kill();

  const absl::Time start = absl::Now();
  const absl::Status failed = client->WritePage(kVolume, 0, 0, PageOf('x'));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable) << failed;
  EXPECT_TRUE(absl::StrContains(failed.message(), "failover_timeout")) << failed;
  EXPECT_TRUE(absl::StrContains(failed.message(), "served by " + owner_.address())) << failed;
  EXPECT_GE(took, absl::Milliseconds(250));
  EXPECT_LT(took, absl::Seconds(10));
  const int asks = discovery_.calls("LocateVolume");
  EXPECT_GE(asks, 1 + 3);  // the open's, then one at once and after waits of 0.1, 0.2 s
  EXPECT_LE(asks, 1 + 6);

  // Zero: one ask, no wait.
  ClientOptions once;
  once.failover_timeout = absl::ZeroDuration();
  FakeServer owner2(&pool_);
  discovery_.Refuse(owner2.address());
  std::unique_ptr<Client> impatient = OpenFor(discovery_, once);
  ASSERT_NE(impatient, nullptr);
  owner2.Kill();
  const int before = discovery_.calls("LocateVolume");
  EXPECT_EQ(impatient->ReadPage(kVolume, 0).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(discovery_.calls("LocateVolume"), before + 1);
}

TEST_F(ClientFollowTest, ServersThatNameEachOtherEndAfterTheMostSwitchesACallMakes) {
  FakePool pool;
  FakeServer a(&pool);
  FakeServer b(&pool, FakeServer::Mode::kRefuse, a.address());
  FakeServer discovery(&pool, FakeServer::Mode::kRefuse, a.address());
  std::unique_ptr<Client> client = OpenFor(discovery);
  ASSERT_NE(client, nullptr);
  a.Refuse(b.address());
  const absl::Status refused = client->WritePage(kVolume, 0, 0, PageOf('p'));
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_EQ(a.calls("WritePage") + b.calls("WritePage"), 1 + Client::kMaxSwitchesPerCall);
}

TEST_F(ClientFollowTest, AFailedPreconditionWithoutAnOwnerOrADataLossIsNotFollowed) {
  std::unique_ptr<Client> client = OpenFor(discovery_);
  ASSERT_NE(client, nullptr);
  owner_.Refuse("");  // no trailer value: a latched error or a fenced server looks like this
  EXPECT_EQ(client->WritePage(kVolume, 0, 0, PageOf('p')).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(owner_.calls("WritePage"), 1);
  EXPECT_EQ(discovery_.calls("LocateVolume"), 1);

  owner_.Serve();
  client->SetErrorCursor(kVolume, 0);  // an incarnation the pool_ never had
  EXPECT_EQ(client->Flush(kVolume).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(owner_.calls("Flush"), 1);
  EXPECT_EQ(discovery_.calls("LocateVolume"), 1);
}

TEST_F(ClientFollowTest, ReadPagesResumesOnTheNewServerAfterTheLastPageItDelivered) {
  FakePool pool;
  {
    absl::MutexLock lock(&pool.mu);
    for (uint64_t page = 0; page < 6; ++page) pool.pages[page] = PageOf('0' + page);
  }
  FakeServer a(&pool);
  FakeServer b(&pool);
  FakeServer discovery(&pool, FakeServer::Mode::kRefuse, a.address());
  std::unique_ptr<Client> client = OpenFor(discovery);
  ASSERT_NE(client, nullptr);
  a.FailReadPagesAfter(2);
  discovery.SetLocated(b.address(), false);
  std::vector<uint64_t> delivered;
  const absl::Status status =
      client->ReadPages(kVolume, 0, 6, [&](uint64_t page, absl::string_view data) {
        delivered.push_back(page);
        EXPECT_EQ(data, PageOf('0' + page)) << page;
        return absl::OkStatus();
      });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(delivered, (std::vector<uint64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(client->target(), b.address());
  EXPECT_EQ(b.last_read_pages().first_page_index(), 2u);
  EXPECT_EQ(b.last_read_pages().page_count(), 4u);
}

// A PageWriter stays on the server it opened on: when that dies its writes fail, FollowVolume
// waits for the take-over and switches the client, and a writer made then writes there.
TEST_F(ClientFollowTest, StreamsStayOnTheirServerAndFollowVolumeFindsTheNewOne) {
  std::unique_ptr<Client> client = OpenFor(discovery_);
  ASSERT_NE(client, nullptr);
  // FollowVolume while the owner_ serves: that is the answer, and nothing switches.
  absl::StatusOr<std::string> followed = client->FollowVolume(kVolume);
  ASSERT_TRUE(followed.ok()) << followed.status();
  EXPECT_EQ(*followed, owner_.address());

  std::unique_ptr<PageWriter> writer = client->NewPageWriter(4);
  absl::Notification written;
  absl::Status first;
  ASSERT_TRUE(writer
                  ->Write(kVolume, 0, 0, PageOf('s'), false,
                          [&](const WriteResult& result) {
                            first = result.status;
                            written.Notify();
                          })
                  .ok());
  ASSERT_TRUE(written.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(first.ok()) << first;

  owner_.Kill();
  discovery_.TakeOverAtAsk(2);
  absl::Notification answered;
  absl::Status second;
  const absl::Status queued =
      writer->Write(kVolume, 1, 0, PageOf('t'), false, [&](const WriteResult& result) {
        second = result.status;
        answered.Notify();
      });
  if (queued.ok()) {
    ASSERT_TRUE(answered.WaitForNotificationWithTimeout(absl::Seconds(30)));
    EXPECT_FALSE(second.ok());
  }
  EXPECT_FALSE(writer->Finish().ok());
  EXPECT_EQ(client->target(), owner_.address()) << "a stream's failure switched the client";

  followed = client->FollowVolume(kVolume);
  ASSERT_TRUE(followed.ok()) << followed.status();
  EXPECT_EQ(*followed, discovery_.address());
  EXPECT_EQ(client->target(), discovery_.address());
  writer = client->NewPageWriter(4);
  ASSERT_TRUE(writer->Write(kVolume, 1, 0, PageOf('t'), false, nullptr).ok());
  ASSERT_TRUE(writer->Finish().ok());
  EXPECT_EQ(discovery_.calls("WritePageBatches"), 1);
  absl::StatusOr<std::string> read = client->ReadPage(kVolume, 1);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, PageOf('t'));
}

TEST_F(ClientFollowTest, WriteRangeWritesWhatFailedAgainOnTheServerItFollowedTo) {
  FakePool pool;
  FakeServer a(&pool);
  FakeServer b(&pool);
  FakeServer discovery(&pool, FakeServer::Mode::kRefuse, a.address());
  std::unique_ptr<Client> client = OpenFor(discovery);
  ASSERT_NE(client, nullptr);
  a.FailStreamWrites(true);
  discovery.SetLocated(b.address(), false);
  std::string data;
  for (char c : {'w', 'x', 'y', 'z'}) data += PageOf(c);
  const absl::Status status = client->WriteRange(kVolume, 4, data);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(client->target(), b.address());
  EXPECT_EQ(a.calls("WritePageBatches"), 1);
  EXPECT_EQ(b.calls("WritePageBatches"), 1);
  absl::MutexLock lock(&pool.mu);
  for (uint64_t page = 0; page < 4; ++page) {
    EXPECT_EQ(pool.pages[4 + page], data.substr(page * kPage, kPage)) << page;
  }
}

// Method: 8 threads write while the owner hands the volume to another (its refusals name it).
// Every write succeeds; the client ends on the new server; a stub taken before the switch
// still works (its calls are not followed).
TEST_F(ClientFollowTest, ConcurrentCallsFollowTheSwitchAndOldStubsStayValid) {
  FakePool pool;
  FakeServer a(&pool);
  FakeServer b(&pool);
  FakeServer discovery(&pool, FakeServer::Mode::kRefuse, a.address());
  std::unique_ptr<Client> client = OpenFor(discovery);
  ASSERT_NE(client, nullptr);
  v1::BlockStore::Stub* const stub_before = client->stub();
  constexpr int kThreads = 8;
  constexpr int kWritesPerThread = 40;
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWritesPerThread; ++i) {
        const absl::Status status =
            client->WritePage(kVolume, (t * kWritesPerThread + i) % kPages, 0, PageOf('c'));
        (status.ok() ? ok : failed).fetch_add(1);
        if (!status.ok()) ADD_FAILURE() << status;
      }
    });
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (ok.load() + failed.load() < kThreads * kWritesPerThread / 4 && absl::Now() < deadline) {
    std::this_thread::yield();
  }
  a.Refuse(b.address());
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), kThreads * kWritesPerThread);
  EXPECT_EQ(client->target(), b.address());
  EXPECT_GT(b.calls("WritePage"), 0);

  grpc::ClientContext context;
  v1::GetVolumeInfoRequest request;
  request.set_volume(kVolume);
  v1::VolumeInfo info;
  EXPECT_EQ(stub_before->GetVolumeInfo(&context, request, &info).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(client->stub(), stub_before);
}

}  // namespace
}  // namespace blockstore
