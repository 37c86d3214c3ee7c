// Volume end to end on a real file, through the real backends (SyncBackend and UringBackend):
// write, read back, flush, reopen, and the input checks. The rule-by-rule tests of the write
// path run on the fake and faulty backends in server/writeback/.
#include "server/volume/volume.h"

#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"
#include "server/io/io_backend.h"
#include "server/io/sync_backend.h"
#include "server/io/uring_backend.h"

namespace blockstore {
namespace {

std::string Pattern(size_t len, char seed) {
  std::string s(len, '\0');
  for (size_t i = 0; i < len; ++i) s[i] = static_cast<char>(seed + i * 7);
  return s;
}

std::string PreadFile(const std::string& path, uint64_t offset, size_t len) {
  std::string out(len, '\0');
  const int fd = ::open(path.c_str(), O_RDONLY);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::pread(fd, &out[0], len, static_cast<off_t>(offset)), static_cast<ssize_t>(len));
  ::close(fd);
  return out;
}

class VolumeTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "uring") {
      auto uring = UringBackend::Create(UringBackend::Options());
      if (!uring.ok()) {
        GTEST_SKIP() << "io_uring unavailable (likely seccomp): " << uring.status();
      }
      backend_ = std::move(*uring);
    } else {
      backend_ = std::make_unique<SyncBackend>();
    }
    config_.name = "vol";
    config_.size_bytes = 64 * 4096 + 1024;  // the last page holds EOF (R3)
    config_.page_size_bytes = 4096;
    config_.block_size_bytes = 1024;
    path_ = temp_dir_.File("vol.vol");
    Reopen(/*create=*/true);
  }

  void Reopen(bool create) {
    volume_.reset();
    auto volume = OpenVolume(path_, config_, options_, backend_.get(), nullptr, create);
    ASSERT_TRUE(volume.ok()) << volume.status();
    volume_ = std::move(*volume);
  }

  void TearDown() override {
    volume_.reset();
    if (backend_) backend_->Shutdown();
  }

  const TempDir temp_dir_;
  std::unique_ptr<IoBackend> backend_;
  VolumeConfig config_;
  VolumeOptions options_;
  std::string path_;
  std::unique_ptr<Volume> volume_;
};

TEST_P(VolumeTest, WriteReadFlushReopenReadsBack) {
  const std::string page0 = Pattern(4096, 'a');
  const std::string blocks = Pattern(2048, 'k');
  ASSERT_TRUE(volume_->WriteSync(0, 0, page0).ok());
  ASSERT_TRUE(volume_->WriteSync(7, 1024, blocks).ok());
  auto read = volume_->ReadSync(0);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, page0);

  std::vector<PageResult> pages;
  const FlushSummary summary = volume_->FlushSync(absl::nullopt, &pages);
  EXPECT_TRUE(summary.status.ok()) << summary.status;
  EXPECT_EQ(summary.pages_written, 2u);
  EXPECT_EQ(pages.size(), 2u);
  EXPECT_EQ(volume_->Stats().dirty_pages, 0u);
  EXPECT_EQ(volume_->Stats().buffers_under_io, 0u);
  EXPECT_EQ(volume_->Stats().pages_under_writeback, 0u);

  // The file holds the data, read with plain pread.
  EXPECT_EQ(PreadFile(path_, 0, 4096), page0);
  EXPECT_EQ(PreadFile(path_, 7 * 4096 + 1024, 2048), blocks);

  Reopen(/*create=*/false);
  read = volume_->ReadSync(7);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->substr(1024, 2048), blocks);
  EXPECT_EQ(read->substr(0, 1024), std::string(1024, '\0'));
}

TEST_P(VolumeTest, FuaWriteIsDurableWhenAcknowledged) {
  const std::string data = Pattern(1024, 'f');
  ASSERT_TRUE(volume_->WriteSync(3, 2048, data, /*fua=*/true).ok());
  EXPECT_EQ(volume_->Stats().dirty_pages, 0u);
  EXPECT_EQ(PreadFile(path_, 3 * 4096 + 2048, 1024), data);
}

TEST_P(VolumeTest, PageHoldingEofWritesOnlyBlocksInsideTheVolume) {
  // Page 64 holds one block (1024 bytes) inside the volume.
  ASSERT_TRUE(volume_->WriteSync(64, 0, Pattern(1024, 'e')).ok());
  EXPECT_EQ(volume_->WriteSync(64, 1024, Pattern(1024, 'x')).code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(volume_->FlushSync().status.ok());
  EXPECT_EQ(PreadFile(path_, 64 * 4096, 1024), Pattern(1024, 'e'));
  auto read = volume_->ReadSync(64);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->substr(1024), std::string(3072, '\0'));
}

TEST_P(VolumeTest, BadWritesNameTheFieldAndChangeNothing) {
  const std::string before = Pattern(4096, 'b');
  ASSERT_TRUE(volume_->WriteSync(1, 0, before).ok());
  struct Case {
    uint64_t page;
    uint32_t offset;
    size_t len;
    absl::StatusCode code;
    const char* field;
  } cases[] = {
      {1, 512, 1024, absl::StatusCode::kInvalidArgument, "offset_bytes"},
      {1, 0, 1000, absl::StatusCode::kInvalidArgument, "data"},
      {1, 0, 0, absl::StatusCode::kInvalidArgument, "data"},
      {1, 3072, 2048, absl::StatusCode::kInvalidArgument, "data"},
      {1, 0, 8192, absl::StatusCode::kInvalidArgument, "data"},
      {65, 0, 1024, absl::StatusCode::kOutOfRange, "page_index"},
      {~0ull, 0, 1024, absl::StatusCode::kOutOfRange, "page_index"},
  };
  for (const Case& c : cases) {
    const absl::Status status = volume_->WriteSync(c.page, c.offset, Pattern(c.len, 'z'));
    EXPECT_EQ(status.code(), c.code) << status;
    EXPECT_NE(status.message().find(c.field), absl::string_view::npos) << status;
  }
  auto read = volume_->ReadSync(1);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, before);
  EXPECT_EQ(volume_->ReadSync(65).status().code(), absl::StatusCode::kOutOfRange);
}

TEST_P(VolumeTest, WritesAfterStopAcceptingWritesAreUnavailable) {
  volume_->StopAcceptingWrites();
  EXPECT_EQ(volume_->WriteSync(0, 0, Pattern(1024, 's')).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(volume_->ReadSync(0).ok());
}

TEST_P(VolumeTest, DirtyLimitThrottlesWritersUntilWritebackCatchesUp) {
  options_.dirty_limit_bytes = 8 * 4096;
  options_.dirty_background_bytes = 4 * 4096;
  Reopen(/*create=*/false);
  // Bounded: 64 pages through an 8-page dirty limit; every write succeeds once writeback
  // catches up, and the throttle counter shows writers waited.
  for (uint64_t page = 0; page < 64; ++page) {
    ASSERT_TRUE(volume_->WriteSync(page, 0, Pattern(4096, static_cast<char>(page))).ok());
  }
  EXPECT_TRUE(volume_->FlushSync().status.ok());
  for (uint64_t page = 0; page < 64; ++page) {
    EXPECT_EQ(PreadFile(path_, page * 4096, 4096), Pattern(4096, static_cast<char>(page)));
  }
  EXPECT_GT(volume_->counters().throttled_ns.load(), 0u);
  EXPECT_EQ(volume_->counters().throttled_writers.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, VolumeTest, ::testing::Values("sync", "uring"));

}  // namespace
}  // namespace blockstore
