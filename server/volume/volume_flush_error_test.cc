// A Flush reports the error of a write that failed during that very Flush, and moves the
// caller's cursor past it. Method: write two pages, fail the block of one of them, flush once
// (completions inside Submit), expect DATA_LOSS once and OK from the returned cursor.
// The ordering it depends on (ErrorSeq is set before any page of the failed bio is reported
// ended, Writeback::EndBio) matters most on backends completing on several threads, where a
// Flush's fdatasync can finish the moment its last page ends; this test cannot force that
// interleaving deterministically.
#include <cerrno>

#include "gtest/gtest.h"
#include "server/io/testing/fake_io_backend.h"
#include "server/io/testing/faulty_io_backend.h"
#include "server/volume/volume.h"
#include "server/volume/volume_test_helpers.h"

namespace blockstore {
namespace {

TEST(VolumeFlushErrorTest, FlushReportsAWriteErrorOfItsOwnPagesOnceAndAdvancesTheCursor) {
  FakeIoBackend::Options fake_options;
  fake_options.complete_in_submit = true;
  FakeIoBackend fake(fake_options);
  FaultyIoBackend faulty(&fake);
  const VolumeConfig config = testing_harness::FourKiBVolumeConfig(16);
  const int fd = fake.AddDevice(config.size_bytes);
  // Writeback only when a test asks for it.
  VolumeOptions options = testing_harness::QuietVolumeOptions();
  auto volume = OpenVolumeOnDeviceForTest(fd, config, options, &faulty);
  ASSERT_TRUE(volume.ok()) << volume.status();
  ASSERT_TRUE((*volume)->WriteSync(1, 0, std::string(4096, 'a')).ok());
  ASSERT_TRUE((*volume)->WriteSync(5, 0, std::string(4096, 'b')).ok());
  faulty.FailBlock(5 * 4096, 4096, EIO);

  std::vector<PageResult> pages;
  const FlushSummary summary = (*volume)->FlushSync(absl::nullopt, &pages);
  EXPECT_EQ(summary.status.code(), absl::StatusCode::kDataLoss) << summary.status;
  EXPECT_EQ(summary.pages_failed, 1u);
  ASSERT_EQ(pages.size(), 2u);
  // The error was reported to this caller once: its next Flush, from the returned cursor, is OK.
  EXPECT_TRUE((*volume)->FlushSync(summary.error_cursor).status.ok());
  volume->reset();
}

}  // namespace
}  // namespace blockstore
