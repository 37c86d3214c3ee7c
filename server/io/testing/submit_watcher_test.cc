#include "server/io/testing/submit_watcher.h"

#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/io/io_request.h"
#include "server/io/testing/fake_io_backend.h"
#include "server/io/testing/test_requests.h"

namespace blockstore {
namespace {

TEST(SubmitWatcherTest, ForwardsTheSameRequestsAndCountsThem) {
  FakeIoBackend fake;
  const int fd = fake.AddDevice(64 * 1024);
  SubmitWatcher watcher(&fake);
  int hooked = 0;
  watcher.set_on_submit([&](IoRequest*) { ++hooked; });
  WriteRequest write(fd, 0, std::string(4096, 'w'));
  SyncRequest sync(fd);
  ASSERT_TRUE(watcher.Submit(&write).ok());
  ASSERT_TRUE(watcher.Submit(&sync).ok());
  EXPECT_EQ(fake.Pending(0), &write) << "the request itself reaches the target";
  EXPECT_EQ(watcher.submits(), 2u);
  EXPECT_EQ(watcher.fdatasyncs(), 1u);
  EXPECT_EQ(hooked, 2);
  EXPECT_TRUE(watcher.WaitForSubmits(2, absl::ZeroDuration()));
  EXPECT_FALSE(watcher.WaitForSubmits(3, absl::Milliseconds(10)));
  EXPECT_FALSE(watcher.WaitForFdatasyncs(2, absl::Milliseconds(10)));
  fake.CompleteAll();
  EXPECT_EQ(write.completion_count(), 1);
  EXPECT_EQ(sync.completion_count(), 1);
}

TEST(SubmitWatcherTest, ARefusedRequestIsNotCounted) {
  FakeIoBackend fake;
  const int fd = fake.AddDevice(64 * 1024);
  SubmitWatcher watcher(&fake);
  watcher.Shutdown();
  WriteRequest write(fd, 0, std::string(512, 'w'));
  EXPECT_FALSE(watcher.Submit(&write).ok());
  EXPECT_EQ(watcher.submits(), 0u);
}

}  // namespace
}  // namespace blockstore
