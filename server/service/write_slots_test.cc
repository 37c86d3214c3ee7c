#include "server/service/write_slots.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace blockstore {
namespace {

constexpr size_t kSlots = 256;
constexpr size_t kPage = 64 * 1024;

// Takes a slot and fills its request as a read of one page would.
int TakeAndFill(WriteSlots* slots) {
  const int index = slots->Take();
  (*slots)[index].request.set_data(std::string(kPage, 'x'));
  slots->Filled(index);
  return index;
}

TEST(WriteSlotsTest, AnIdleStreamKeepsOnlyAFewBuffers) {
  WriteSlots slots(kSlots);
  std::vector<int> busy;
  for (size_t i = 0; i < kSlots; ++i) busy.push_back(TakeAndFill(&slots));
  EXPECT_EQ(slots.retained(), kSlots);  // a burst: every slot holds a page (16 MiB)
  EXPECT_FALSE(slots.any_free());

  std::vector<std::string> released;
  for (size_t i = 0; i + 1 < busy.size(); ++i) slots.Give(busy[i], &released);
  // One slot still busy (as the slot waiting for the next request is): idle.
  EXPECT_EQ(slots.retained(), WriteSlots::kKeptWhenIdle);
  size_t bytes = 0;
  for (const std::string& buffer : released) bytes += buffer.capacity();
  EXPECT_GE(bytes, (kSlots - WriteSlots::kKeptWhenIdle) * kPage);
  slots.Give(busy.back(), &released);
  EXPECT_EQ(slots.retained(), WriteSlots::kKeptWhenIdle);
}

// A request larger than any write (1 MiB of data, a 1000-byte name: refused, but read into the
// slot) gives its allocations back with the slot, busy stream or not: messages may be 1 MiB.
TEST(WriteSlotsTest, AnOversizedRequestLeavesNoAllocationInItsSlot) {
  WriteSlots slots(kSlots);
  std::vector<int> busy;
  for (int i = 0; i < 3; ++i) busy.push_back(TakeAndFill(&slots));  // not idle: 2 stay busy
  WriteSlots::Slot& big = slots[busy[0]];
  big.request.set_data(std::string(1 << 20, 'b'));
  big.request.set_volume(std::string(1000, 'v'));
  std::vector<std::string> released;
  slots.Give(busy[0], &released);
  EXPECT_EQ(released.size(), 2u);
  EXPECT_EQ(slots.retained(), 2u);
  EXPECT_LE(slots[busy[0]].request.data().capacity(), kPage);
  EXPECT_LE(slots[busy[0]].request.volume().capacity(), WriteSlots::kMaxRetainedNameBytes);
  // A page-sized write keeps its buffer for the next one.
  released.clear();
  slots.Give(busy[1], &released);
  EXPECT_TRUE(released.empty());
  EXPECT_EQ(slots.retained(), 2u);
}

TEST(WriteSlotsTest, AStreamAtLowDepthReusesItsWarmSlotsAndReleasesNothing) {
  WriteSlots slots(kSlots);
  std::vector<std::string> released;
  const int reading = slots.Take();  // the slot waiting for the next request
  for (int i = 0; i < 1000; ++i) {
    const int index = TakeAndFill(&slots);
    slots.Give(index, &released);
  }
  EXPECT_EQ(slots.retained(), 1u);  // the same warm slot every time
  EXPECT_TRUE(released.empty());
  slots.Give(reading, &released);
}

TEST(WriteSlotsTest, ABusyStreamKeepsItsBuffers) {
  WriteSlots slots(kSlots);
  std::vector<std::string> released;
  std::vector<int> busy;
  for (int i = 0; i < 64; ++i) busy.push_back(TakeAndFill(&slots));
  // Half the writes are answered while the rest are in flight: not idle, nothing released.
  for (int i = 0; i < 32; ++i) slots.Give(busy[i], &released);
  EXPECT_TRUE(released.empty());
  EXPECT_EQ(slots.retained(), 64u);
}

}  // namespace
}  // namespace blockstore
