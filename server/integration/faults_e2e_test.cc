// Device faults reaching real clients over gRPC (issue 10, section 3). Each test starts
// faulty_blockstored (blockstored with FaultyIoBackend below its engine, its faults from
// --fault_schedule) on 127.0.0.1:0 and drives it with the C++ client. The faults hit one volume,
// "bad" (vol=bad); a second volume, "good", gets writes, Flushes and reads from its own
// connection for the whole test (HealthyTraffic), none of which may fail.

#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/block_client.h"
#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"
#include "server/integration/same_bytes.h"
#include "server/integration/server_process.h"
#include "server/integration/test_server_fixture.h"

namespace blockstore {
namespace {

constexpr uint32_t kPage = 8192;
constexpr uint32_t kBlock = 4096;
constexpr uint64_t kPages = 128;
constexpr uint64_t kVolumeBytes = kPages * kPage;

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The "fault counts: k=v ..." line faulty_blockstored logs when it stops, as a map; empty when
// the log has none.
std::map<std::string, uint64_t> FaultCounts(const std::string& log) {
  std::map<std::string, uint64_t> counts;
  const size_t start = log.rfind("fault counts: ");
  if (start == std::string::npos) return counts;
  const size_t end = log.find('\n', start);
  const std::string line = log.substr(start + 14, end - start - 14);
  for (absl::string_view pair : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
    const std::vector<std::string> kv = absl::StrSplit(pair, '=');
    uint64_t value = 0;
    if (kv.size() == 2 && absl::SimpleAtoi(kv[1], &value)) counts[kv[0]] = value;
  }
  return counts;
}

// One count of FaultCounts(); a failure when the log has no such count.
uint64_t CountOf(const std::map<std::string, uint64_t>& counts, const std::string& key) {
  auto it = counts.find(key);
  if (it == counts.end()) {
    ADD_FAILURE() << "the server logged no fault count " << key;
    return 0;
  }
  return it->second;
}

// Writes (one in five FUA), Flushes and reads back the healthy volume from its own connection
// until stopped (at most 20,000 rounds or 50 s), and keeps every failure.
class HealthyTraffic {
 public:
  HealthyTraffic(const std::string& address, std::string volume)
      : client_(Client::Connect(address)), volume_(std::move(volume)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~HealthyTraffic() { Stop(); }

  // Stops the traffic and returns what failed.
  std::vector<std::string> Stop() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    if (thread_.joinable()) thread_.join();
    absl::MutexLock lock(&mu_);
    return failures_;
  }
  uint64_t rounds() {
    absl::MutexLock lock(&mu_);
    return rounds_;
  }

 private:
  void Fail(const std::string& what) {
    absl::MutexLock lock(&mu_);
    if (failures_.size() < 20) failures_.push_back(what);
  }

  void Run() {
    std::map<uint64_t, std::string> written;  // page -> what it holds
    const absl::Time deadline = absl::Now() + absl::Seconds(50);
    for (uint64_t round = 0; round < 20000 && absl::Now() < deadline; ++round) {
      {
        absl::MutexLock lock(&mu_);
        if (stop_) return;
        rounds_ = round;
      }
      const uint64_t page = (round * 37) % kPages;
      std::string data = Pattern(kPage, 1000 + round);
      const absl::Status write = client_->WritePage(volume_, page, 0, data, round % 5 == 0);
      if (!write.ok()) Fail(absl::StrCat("write of page ", page, ": ", write.ToString()));
      written[page] = std::move(data);
      if (round % 4 == 3) {
        const absl::Status flush = client_->Flush(volume_);
        if (!flush.ok()) Fail(absl::StrCat("flush: ", flush.ToString()));
      }
      const uint64_t read_page = (round * 11) % kPages;
      absl::StatusOr<std::string> read = client_->ReadPage(volume_, read_page);
      if (!read.ok()) {
        Fail(absl::StrCat("read of page ", read_page, ": ", read.status().ToString()));
      } else {
        auto it = written.find(read_page);
        const std::string expected = it == written.end() ? std::string(kPage, '\0') : it->second;
        if (*read != expected) Fail(absl::StrCat("page ", read_page, " read back wrong"));
      }
      absl::SleepFor(absl::Milliseconds(2));
    }
  }

  const std::unique_ptr<Client> client_;
  const std::string volume_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t rounds_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> failures_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// What a PageWriter's writes ended with, by page.
struct WriteOutcomes {
  absl::Mutex mu;
  std::map<uint64_t, absl::Status> by_page ABSL_GUARDED_BY(mu);
};

class FaultsE2eTest : public ::testing::Test {
 protected:
  // Starts faulty_blockstored with `schedule` on this test's data directory; with `production`,
  // the real blockstored (no faults) instead.
  void StartServer(const std::string& schedule, bool production = false) {
    std::vector<std::string> args = {
        "--listen=127.0.0.1:0", "--data_dir=" + data_dir_, "--metrics_listen=", "--io_backend=auto",
        "--prefault_cache=false", "--cache_bytes=33554432", "--dirty_limit_bytes=16777216",
        "--dirty_background_bytes=8388608",
        // No background writeback: each test decides when pages are written back (its
        // Flushes), so which Flush reports which page is deterministic.
        "--dirty_expire=10m", "--flusher_interval=100ms"};
    if (!production) args.push_back("--fault_schedule=" + schedule);
    absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(
        RunfilePath(production ? "server/blockstored" : "server/integration/faulty_blockstored"),
        args, absl::Seconds(60));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // Stops the server with `signal`; returns its log (the fault counts are in it after SIGTERM).
  // Drop the clients first: a client channel left open after a ReadPage held blockstored's
  // SIGTERM for about its --shutdown_grace (5 s), though no call was in flight.
  std::string StopServer(int signal, int expected_exit_code) {
    const std::string log_path = server_->log_path();
    absl::StatusOr<int> code = server_->Stop(signal, absl::Seconds(60));
    EXPECT_TRUE(code.ok()) << code.status();
    if (code.ok()) {
      EXPECT_EQ(*code, expected_exit_code) << "log: " << log_path;
    }
    server_.reset();
    return ReadText(log_path);
  }

  std::unique_ptr<Client> NewClient() {
    ClientOptions options;
    options.timeout = absl::Seconds(30);
    return Client::Connect(server_->address(), options);
  }

  // Creates "bad" and "good" and starts the healthy traffic on "good".
  void CreateVolumesAndStartTraffic() {
    std::unique_ptr<Client> admin = NewClient();
    ASSERT_TRUE(admin->CreateVolume("bad", kVolumeBytes, kPage, kBlock).ok());
    ASSERT_TRUE(admin->CreateVolume("good", kVolumeBytes, kPage, kBlock).ok());
    absl::StatusOr<v1::VolumeInfo> info = admin->GetVolumeInfo("bad");
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->io_backend().rfind("faulty-", 0), 0u) << info->io_backend();
    traffic_ = std::make_unique<HealthyTraffic>(server_->address(), "good");
    WaitForHealthyRounds(3);
  }

  // Waits (up to 20 s) until the healthy traffic has run `rounds` rounds.
  void WaitForHealthyRounds(uint64_t rounds) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (traffic_->rounds() < rounds && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

  // Stops the healthy traffic: it ran and nothing of it failed.
  void ExpectHealthyTrafficUnharmed() {
    ASSERT_NE(traffic_, nullptr);
    WaitForHealthyRounds(10);
    const uint64_t rounds = traffic_->rounds();
    const std::vector<std::string> failures = traffic_->Stop();
    traffic_.reset();
    EXPECT_GE(rounds, 10u) << "the healthy volume saw little traffic";
    for (const std::string& failure : failures) ADD_FAILURE() << "volume good: " << failure;
  }

  // Writes `pages` (page -> data) through one PageWriter, FUA or not, and returns each write's
  // result.
  std::map<uint64_t, absl::Status> WriteThroughPageWriter(
      Client* client, const std::map<uint64_t, std::string>& pages, bool fua) {
    WriteOutcomes outcomes;
    std::unique_ptr<PageWriter> writer = client->NewPageWriter(/*window=*/8);
    for (const auto& [page, data] : pages) {
      const absl::Status sent =
          writer->Write("bad", page, 0, data, fua, [&outcomes](const WriteResult& result) {
            absl::MutexLock lock(&outcomes.mu);
            outcomes.by_page[result.page_index] = result.status;
          });
      EXPECT_TRUE(sent.ok()) << sent;
    }
    const absl::Status finished = writer->Finish();
    EXPECT_TRUE(finished.ok()) << finished;
    absl::MutexLock lock(&outcomes.mu);
    EXPECT_EQ(outcomes.by_page.size(), pages.size()) << "a write was not answered";
    return outcomes.by_page;
  }

  const TempDir temp_dir_;
  const std::string data_dir_ = temp_dir_.File("data");
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<HealthyTraffic> traffic_;
};

// Method: block 13 of "bad" (page 6, block 1) is a bad sector. Two clients open their cursors;
// A writes pages 6, 10 and 20 and flushes: DATA_LOSS, page 6 failed with its block 1, pages 10
// and 20 written. Each cursor (A, B) gets DATA_LOSS exactly once; a client that starts later
// gets OK; later Flushes of other pages are OK; page 6 written again fails again, and that new
// failure reaches both cursors once more.
TEST_F(FaultsE2eTest, EioOnAChosenBlockIsReportedOncePerCursor) {
  StartServer("vol=bad;eio@block=13");
  CreateVolumesAndStartTraffic();
  std::unique_ptr<Client> a = NewClient();
  std::unique_ptr<Client> b = NewClient();
  ASSERT_TRUE(a->ErrorCursor("bad").ok());
  ASSERT_TRUE(b->ErrorCursor("bad").ok());

  ASSERT_TRUE(a->WritePage("bad", 6, 0, Pattern(kPage, 6)).ok());
  ASSERT_TRUE(a->WritePage("bad", 10, 0, Pattern(kPage, 10)).ok());
  ASSERT_TRUE(a->WriteRange("bad", 20, Pattern(kPage, 20)).ok());  // through a PageWriter

  FlushResult first;
  EXPECT_EQ(a->Flush("bad", &first).code(), absl::StatusCode::kDataLoss);
  ASSERT_TRUE(first.has_summary);
  EXPECT_EQ(first.pages_failed, 1u);
  EXPECT_EQ(first.pages_written, 2u);
  std::map<uint64_t, FlushPageResult> by_page;
  for (const FlushPageResult& page : first.pages) by_page[page.page_index] = page;
  ASSERT_EQ(by_page.size(), 3u);
  EXPECT_EQ(by_page[6].status.code(), absl::StatusCode::kDataLoss) << by_page[6].status;
  // The bio that carried block 1 failed whole: block 1 is among the failed ones.
  EXPECT_NE(std::find(by_page[6].failed_blocks.begin(), by_page[6].failed_blocks.end(), 1u),
            by_page[6].failed_blocks.end());
  EXPECT_TRUE(by_page[10].status.ok()) << by_page[10].status;
  EXPECT_TRUE(by_page[20].status.ok()) << by_page[20].status;

  EXPECT_TRUE(a->Flush("bad").ok()) << "A was told twice";
  FlushResult b_first;
  EXPECT_EQ(b->Flush("bad", &b_first).code(), absl::StatusCode::kDataLoss)
      << "B's cursor predates the failure";
  EXPECT_EQ(b_first.pages_failed, 0u) << "B's Flush wrote nothing itself";
  EXPECT_TRUE(b->Flush("bad").ok()) << "B was told twice";
  std::unique_ptr<Client> c = NewClient();
  EXPECT_TRUE(c->Flush("bad").ok()) << "a client that came after everyone was told";

  // The volume goes on: other pages are written, flushed and read back.
  ASSERT_TRUE(a->WritePage("bad", 30, 0, Pattern(kPage, 30)).ok());
  EXPECT_TRUE(a->Flush("bad").ok());
  absl::StatusOr<std::string> page10 = c->ReadPage("bad", 10);
  ASSERT_TRUE(page10.ok()) << page10.status();
  EXPECT_TRUE(SameBytes(*page10, Pattern(kPage, 10)));

  // The sector is still bad: a new write of it fails again, a new error for every cursor.
  ASSERT_TRUE(b->WritePage("bad", 6, kBlock, Pattern(kBlock, 66)).ok());
  EXPECT_EQ(b->Flush("bad").code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(a->Flush("bad").code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(c->Flush("bad").code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(a->Flush("bad").ok());
  EXPECT_TRUE(b->Flush("bad").ok());

  ExpectHealthyTrafficUnharmed();
  a.reset();
  b.reset();
  c.reset();
  const std::map<std::string, uint64_t> counts = FaultCounts(StopServer(SIGTERM, 0));
  EXPECT_EQ(CountOf(counts, "bad_block_writes"), 2u);
}

// Method: block 20 of "bad" (page 10, block 0) answers ENOSPC. Pages 3 and 10 written and
// flushed: RESOURCE_EXHAUSTED, page 10 failed with it, page 3 written; a FUA write of page 10
// is RESOURCE_EXHAUSTED too. Every page of the volume can still be read, page 3 as written.
TEST_F(FaultsE2eTest, EnospcIsResourceExhaustedAndReadsAreStillServed) {
  StartServer("vol=bad;enospc@block=20");
  CreateVolumesAndStartTraffic();
  std::unique_ptr<Client> client = NewClient();
  ASSERT_TRUE(client->ErrorCursor("bad").ok());
  ASSERT_TRUE(client->WritePage("bad", 3, 0, Pattern(kPage, 3)).ok());
  ASSERT_TRUE(client->WritePage("bad", 10, 0, Pattern(kPage, 10)).ok());

  FlushResult result;
  EXPECT_EQ(client->Flush("bad", &result).code(), absl::StatusCode::kResourceExhausted)
      << result.status;
  EXPECT_EQ(result.pages_failed, 1u);
  EXPECT_EQ(result.pages_written, 1u);
  for (const FlushPageResult& page : result.pages) {
    if (page.page_index == 10) {
      EXPECT_EQ(page.status.code(), absl::StatusCode::kResourceExhausted) << page.status;
    } else {
      EXPECT_EQ(page.page_index, 3u);
      EXPECT_TRUE(page.status.ok()) << page.status;
    }
  }
  EXPECT_TRUE(client->Flush("bad").ok()) << "told twice";

  const absl::Status fua = client->WritePage("bad", 10, 0, Pattern(kPage, 11), /*fua=*/true);
  EXPECT_EQ(fua.code(), absl::StatusCode::kResourceExhausted) << fua;
  // The FUA write's failure is the volume's too (R21): every cursor's next Flush reports it
  // once, as fsync does after a failed O_DSYNC write. Until some Flush has, a shutdown counts
  // it as lost (exit 1).
  EXPECT_EQ(client->Flush("bad").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(client->Flush("bad").ok());

  absl::StatusOr<std::string> page3 = client->ReadPage("bad", 3);
  ASSERT_TRUE(page3.ok()) << page3.status();
  EXPECT_TRUE(SameBytes(*page3, Pattern(kPage, 3)));
  uint64_t pages_read = 0;
  const absl::Status all = client->ReadPages("bad", 0, kPages, [&](uint64_t, absl::string_view) {
    ++pages_read;
    return absl::OkStatus();
  });
  EXPECT_TRUE(all.ok()) << all;
  EXPECT_EQ(pages_read, kPages);

  ExpectHealthyTrafficUnharmed();
  client.reset();
  StopServer(SIGTERM, 0);
}

// Method: block 13 (page 6, block 1) is bad and one request in four of "bad" fails with EIO
// (seeded). FUA writes over the bad block, whole-page and of that block alone, by WritePage
// and through a PageWriter: none answers OK. Then 96 other pages are written once each, FUA,
// through a PageWriter: the test keeps which answered OK (some must, some must not). The
// server is killed (SIGKILL: nothing more is written), the production blockstored is started
// on the same directory, and every page whose FUA write was answered OK reads back as written.
TEST_F(FaultsE2eTest, FuaNeverSaysOkForDataThatIsNotDurable) {
  StartServer("vol=bad;eio@block=13;eio=1in4;seed=11");
  CreateVolumesAndStartTraffic();
  std::unique_ptr<Client> client = NewClient();

  for (int i = 0; i < 4; ++i) {
    const absl::Status whole = client->WritePage("bad", 6, 0, Pattern(kPage, 600 + i), true);
    EXPECT_FALSE(whole.ok()) << "FUA over a bad block answered OK";
    const absl::Status block = client->WritePage("bad", 6, kBlock, Pattern(kBlock, 700 + i), true);
    EXPECT_FALSE(block.ok()) << "FUA of a bad block answered OK";
  }
  for (const auto& [page, status] :
       WriteThroughPageWriter(client.get(), {{6, Pattern(kPage, 800)}}, /*fua=*/true)) {
    EXPECT_FALSE(status.ok()) << "FUA over a bad block answered OK through a PageWriter";
  }

  std::map<uint64_t, std::string> pages;
  for (uint64_t page = 20; page < 116; ++page) pages[page] = Pattern(kPage, 5000 + page);
  const std::map<uint64_t, absl::Status> outcomes =
      WriteThroughPageWriter(client.get(), pages, /*fua=*/true);
  std::vector<uint64_t> acknowledged;
  for (const auto& [page, status] : outcomes) {
    if (status.ok()) {
      acknowledged.push_back(page);
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << "page " << page << ": " << status;
    }
  }
  EXPECT_GT(acknowledged.size(), 0u) << "no FUA write succeeded: the check below is empty";
  EXPECT_LT(acknowledged.size(), pages.size()) << "no FUA write failed: eio=1in4 did nothing";
  ExpectHealthyTrafficUnharmed();

  StopServer(SIGKILL, 128 + SIGKILL);
  StartServer("", /*production=*/true);
  std::unique_ptr<Client> reader = NewClient();
  for (uint64_t page : acknowledged) {
    absl::StatusOr<std::string> read = reader->ReadPage("bad", page);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_TRUE(SameBytes(*read, pages[page]))
        << "page " << page << " was acknowledged FUA but is not there";
  }
  reader.reset();
  StopServer(SIGTERM, 0);
}

// Method: on "bad", one write in two and one read in three come back short, the first three
// requests and then one in seven get EAGAIN (seeded). Every page is written, eight at a time
// through a PageWriter with a Flush after each eight (so there are many bios), then single
// blocks of every ninth page by WritePage, flushed, and one FUA write: all OK. The server is
// stopped cleanly and started again with the same faults, so every page is read from the disk,
// through short reads and EAGAIN: each is what was written. The log's fault counts show that each
// kind of fault happened.
TEST_F(FaultsE2eTest, ShortWritesShortReadsAndEagainAreRetriedAndTheDataIsIntact) {
  const std::string schedule =
      "vol=bad;short_write=1in2;short_read=1in3;eagain=3;eagain=1in7;seed=5";
  StartServer(schedule);
  CreateVolumesAndStartTraffic();
  std::unique_ptr<Client> client = NewClient();
  std::string image;
  for (uint64_t page = 0; page < kPages; ++page) image += Pattern(kPage, 9000 + page);
  for (uint64_t first = 0; first < kPages; first += 8) {
    ASSERT_TRUE(client->WriteRange("bad", first, image.substr(first * kPage, 8 * kPage)).ok());
    FlushResult flush;
    EXPECT_TRUE(client->Flush("bad", &flush).ok()) << flush.status;
    EXPECT_EQ(flush.pages_written, 8u);
  }
  for (uint64_t page = 0; page < kPages; page += 9) {
    const std::string block = Pattern(kBlock, 20000 + page);
    ASSERT_TRUE(client->WritePage("bad", page, kBlock, block).ok());
    image.replace(page * kPage + kBlock, kBlock, block);
  }
  FlushResult flush;
  EXPECT_TRUE(client->Flush("bad", &flush).ok()) << flush.status;
  EXPECT_EQ(flush.pages_failed, 0u);
  const std::string fua_page = Pattern(kPage, 30000);
  EXPECT_TRUE(client->WritePage("bad", 5, 0, fua_page, /*fua=*/true).ok());
  image.replace(5 * kPage, kPage, fua_page);
  ExpectHealthyTrafficUnharmed();
  client.reset();
  const std::map<std::string, uint64_t> writing = FaultCounts(StopServer(SIGTERM, 0));

  StartServer(schedule);
  client = NewClient();
  for (uint64_t page = 0; page < kPages; ++page) {
    absl::StatusOr<std::string> read = client->ReadPage("bad", page);
    ASSERT_TRUE(read.ok()) << "page " << page << ": " << read.status();
    EXPECT_TRUE(SameBytes(*read, image.substr(page * kPage, kPage))) << "page " << page;
  }
  client.reset();
  const std::map<std::string, uint64_t> reading = FaultCounts(StopServer(SIGTERM, 0));

  EXPECT_GT(CountOf(writing, "short_writes"), 0u);
  EXPECT_GE(CountOf(writing, "eagains"), 3u);
  EXPECT_GT(CountOf(reading, "short_reads"), 0u);
  EXPECT_GE(CountOf(reading, "eagains"), 3u);
}

// Method: every completion of "bad" is held 40 ms. A FUA write (a bio and a device flush, each
// held) takes at least that long and answers OK; 32 pages written and flushed, and pages never
// written read from the disk, all finish OK; the server stops cleanly with completions held.
TEST_F(FaultsE2eTest, SlowCompletionsStillFinish) {
  StartServer("vol=bad;slow_ms=40");
  CreateVolumesAndStartTraffic();
  std::unique_ptr<Client> client = NewClient();
  const absl::Time start = absl::Now();
  EXPECT_TRUE(client->WritePage("bad", 1, 0, Pattern(kPage, 1), /*fua=*/true).ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(40)) << "the completion was not held";

  std::string image;
  for (uint64_t page = 0; page < 32; ++page) image += Pattern(kPage, 40 + page);
  ASSERT_TRUE(client->WriteRange("bad", 64, image, /*window=*/16).ok());
  EXPECT_TRUE(client->Flush("bad").ok());
  uint64_t zero_pages = 0;
  const absl::Status read =
      client->ReadPages("bad", 100, 16, [&](uint64_t, absl::string_view data) {
        if (data == std::string(kPage, '\0')) ++zero_pages;
        return absl::OkStatus();
      });
  EXPECT_TRUE(read.ok()) << read;
  EXPECT_EQ(zero_pages, 16u);
  // Left dirty for the shutdown flush, whose completions are held too.
  ASSERT_TRUE(client->WriteRange("bad", 0, Pattern(16 * kPage, 77), /*window=*/16).ok());
  ExpectHealthyTrafficUnharmed();
  client.reset();
  const std::map<std::string, uint64_t> counts = FaultCounts(StopServer(SIGTERM, 0));
  EXPECT_GT(CountOf(counts, "slow_completions"), 0u);

  StartServer("", /*production=*/true);
  client = NewClient();
  absl::StatusOr<std::string> page0 = client->ReadPage("bad", 0);
  ASSERT_TRUE(page0.ok()) << page0.status();
  EXPECT_TRUE(SameBytes(*page0, Pattern(16 * kPage, 77).substr(0, kPage)))
      << "the shutdown flush lost it";
  client.reset();
  StopServer(SIGTERM, 0);
}

}  // namespace
}  // namespace blockstore
