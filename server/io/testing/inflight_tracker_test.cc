#include "server/io/testing/inflight_tracker.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/io/io_request.h"
#include "server/io/testing/fake_io_backend.h"
#include "server/io/testing/faulty_io_backend.h"
#include "server/io/testing/test_requests.h"

namespace blockstore {
namespace {

// Method: three requests go through the tracker to a FaultyIoBackend (which forwards requests
// of its own) over the fake; the tracker names the submitter's requests until each completes,
// in whatever order.
TEST(InFlightTrackerTest, NamesTheSubmittersRequestsUntilTheyComplete) {
  FakeIoBackend fake;
  const int fd = fake.AddDevice(64 * 1024);
  FaultyIoBackend faulty(&fake);
  InFlightTracker tracker(&faulty);
  WriteRequest first(fd, 0, std::string(4096, 'a'));
  WriteRequest second(fd, 8192, std::string(4096, 'b'));
  SyncRequest sync(fd);
  for (IoRequest* request : std::vector<IoRequest*>{&first, &second, &sync}) {
    ASSERT_TRUE(tracker.Submit(request).ok());
  }
  EXPECT_EQ(tracker.submits(), 3u);
  EXPECT_EQ(tracker.InFlight(), 3u);
  tracker.VisitInFlight([&](const std::vector<IoRequest*>& in_flight) {
    EXPECT_EQ(in_flight, (std::vector<IoRequest*>{&first, &second, &sync}));
  });
  fake.CompleteAt(1);
  EXPECT_EQ(second.completion_count(), 1);
  tracker.VisitInFlight([&](const std::vector<IoRequest*>& in_flight) {
    EXPECT_EQ(in_flight, (std::vector<IoRequest*>{&first, &sync}));
  });
  EXPECT_TRUE(tracker.WaitUntil(
      [](const std::vector<IoRequest*>& in_flight) { return in_flight.size() == 2; },
      absl::ZeroDuration()));
  EXPECT_FALSE(
      tracker.WaitUntil([](const std::vector<IoRequest*>& in_flight) { return in_flight.empty(); },
                        absl::Milliseconds(10)));
  fake.CompleteAll();
  EXPECT_EQ(tracker.InFlight(), 0u);
  EXPECT_EQ(first.results(), std::vector<int32_t>{4096});
  EXPECT_EQ(fake.ReadVolatile(fd, 8192, 4096), std::string(4096, 'b'));
}

// A request resubmitted from its own completion is in flight again.
TEST(InFlightTrackerTest, AResubmittedRequestIsInFlightAgain) {
  FakeIoBackend fake;
  const int fd = fake.AddDevice(64 * 1024);
  InFlightTracker tracker(&fake);
  WriteRequest write(fd, 0, std::string(4096, 'r'));
  bool resubmitted = false;
  write.set_on_complete([&](int32_t) {
    if (resubmitted) return;
    resubmitted = true;
    EXPECT_EQ(tracker.InFlight(), 0u);
    EXPECT_TRUE(tracker.Submit(&write).ok());
  });
  ASSERT_TRUE(tracker.Submit(&write).ok());
  fake.CompleteNext();
  EXPECT_EQ(tracker.InFlight(), 1u);
  EXPECT_TRUE(tracker.WaitForSubmitsAfter(1, absl::ZeroDuration()));
  fake.CompleteNext();
  EXPECT_EQ(tracker.InFlight(), 0u);
  EXPECT_EQ(write.completion_count(), 2);
}

TEST(InFlightTrackerTest, ARefusedRequestIsNotInFlight) {
  FakeIoBackend fake;
  const int fd = fake.AddDevice(64 * 1024);
  InFlightTracker tracker(&fake);
  fake.Shutdown();
  SyncRequest sync(fd);
  EXPECT_FALSE(tracker.Submit(&sync).ok());
  EXPECT_EQ(tracker.InFlight(), 0u);
  EXPECT_EQ(tracker.submits(), 1u);
}

}  // namespace
}  // namespace blockstore
