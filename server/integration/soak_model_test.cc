#include "server/integration/soak_model.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/integration/crash_model.h"

namespace blockstore {
namespace soak {
namespace {

constexpr uint64_t kSeed = 99;
constexpr uint64_t kVolumeId = 7;
// 4 pages of 4 KiB in 1 KiB blocks; the last page holds 2 blocks (EOF inside it).
const crash::Geometry kGeometry{3 * 4096 + 2 * 1024, 4096, 1024};

// Page `page` as the server would hold it with these generations per block (0: zeros).
std::string PageOf(uint64_t page, const std::vector<uint64_t>& generations,
                   uint64_t volume_id = kVolumeId) {
  std::string data;
  for (uint32_t block = 0; block < generations.size(); ++block) {
    data += generations[block] == 0
                ? std::string(1024, '\0')
                : crash::EncodeBlock(kSeed, volume_id, page, block, generations[block], 1024);
  }
  return data;
}

ReadCheck Check(const VolumeModel& model, const ReadFloor& floor, uint64_t page,
                const std::string& data) {
  ReadCheck check;
  model.CheckPage(floor, page, data, &check);
  return check;
}

TEST(SoakModelTest, UnwrittenPagesReadAsZeros) {
  VolumeModel model("v", kVolumeId, kGeometry, kSeed);
  const ReadFloor floor = model.StartRead(0, 4);
  for (uint64_t page = 0; page < 4; ++page) {
    const ReadCheck check = Check(model, floor, page, PageOf(page, {0, 0, 0, 0}));
    EXPECT_EQ(check.wrong_blocks, 0u);
    EXPECT_EQ(check.blocks_checked, 4u);
  }
}

TEST(SoakModelTest, ReadAfterAcknowledgementMustSeeIt) {
  VolumeModel model("v", kVolumeId, kGeometry, kSeed);
  const WriteTicket ticket = model.BeginWrite(1, 1, 2);  // blocks 1 and 2: generation 1
  EXPECT_EQ(model.Data(ticket), crash::EncodeBlock(kSeed, kVolumeId, 1, 1, 1, 1024) +
                                    crash::EncodeBlock(kSeed, kVolumeId, 1, 2, 1, 1024));
  model.EndWrite(ticket, WriteOutcome::kAcknowledged);
  const ReadFloor floor = model.StartRead(1, 1);
  EXPECT_EQ(Check(model, floor, 1, PageOf(1, {0, 1, 1, 0})).wrong_blocks, 0u);
  const ReadCheck stale = Check(model, floor, 1, PageOf(1, {0, 1, 0, 0}));
  EXPECT_EQ(stale.wrong_blocks, 1u);
  EXPECT_EQ(stale.wrong_pages, 1u);
  EXPECT_EQ(stale.wrong_by_kind.at("stale"), 1u);
  ASSERT_EQ(stale.details.size(), 1u);
  EXPECT_NE(stale.details[0].detail.find("page 1 block 2"), std::string::npos)
      << stale.details[0].detail;
}

TEST(SoakModelTest, WriteInFlightMayOrMayNotShow) {
  VolumeModel model("v", kVolumeId, kGeometry, kSeed);
  const WriteTicket first = model.BeginWrite(0, 0, 4);
  model.EndWrite(first, WriteOutcome::kAcknowledged);
  const WriteTicket second = model.BeginWrite(0, 0, 4);  // generation 2, not answered yet
  const ReadFloor floor = model.StartRead(0, 1);
  EXPECT_EQ(Check(model, floor, 0, PageOf(0, {1, 1, 1, 1})).wrong_blocks, 0u);
  const ReadCheck newer = Check(model, floor, 0, PageOf(0, {2, 2, 1, 1}));
  EXPECT_EQ(newer.wrong_blocks, 0u);
  EXPECT_EQ(newer.blocks_in_flight, 2u);
  // Acknowledged after the read started: the read may still return the older generation.
  model.EndWrite(second, WriteOutcome::kAcknowledged);
  EXPECT_EQ(Check(model, floor, 0, PageOf(0, {1, 1, 1, 1})).wrong_blocks, 0u);
  // A read started now may not.
  EXPECT_EQ(Check(model, model.StartRead(0, 1), 0, PageOf(0, {1, 1, 1, 1})).wrong_blocks, 4u);
}

TEST(SoakModelTest, AnswersOutOfOrderKeepTheNewestAcknowledged) {
  VolumeModel model("v", kVolumeId, kGeometry, kSeed);
  const WriteTicket first = model.BeginWrite(2, 0, 1);
  const WriteTicket second = model.BeginWrite(2, 0, 1);
  model.EndWrite(second, WriteOutcome::kAcknowledged);
  model.EndWrite(first, WriteOutcome::kAcknowledged);
  EXPECT_EQ(model.acknowledged(2, 0), 2u);
  const ReadCheck check = Check(model, model.StartRead(2, 1), 2, PageOf(2, {1, 0, 0, 0}));
  EXPECT_EQ(check.wrong_by_kind.at("stale"), 1u);
}

TEST(SoakModelTest, RefusedWriteDoesNotRaiseTheFloor) {
  VolumeModel model("v", kVolumeId, kGeometry, kSeed);
  model.EndWrite(model.BeginWrite(0, 0, 1), WriteOutcome::kAcknowledged);
  model.EndWrite(model.BeginWrite(0, 0, 1), WriteOutcome::kRefused);
  EXPECT_EQ(model.acknowledged(0, 0), 1u);
  EXPECT_EQ(Check(model, model.StartRead(0, 1), 0, PageOf(0, {1, 0, 0, 0})).wrong_blocks, 0u);
}

TEST(SoakModelTest, UnansweredWriteLeavesItsBlocksUnsettled) {
  VolumeModel model("v", kVolumeId, kGeometry, kSeed);
  model.EndWrite(model.BeginWrite(0, 0, 1), WriteOutcome::kAcknowledged);
  model.EndWrite(model.BeginWrite(0, 0, 1), WriteOutcome::kUnknown);
  model.EndWrite(model.BeginWrite(0, 0, 1), WriteOutcome::kAcknowledged);
  // The unanswered generation 2 may have landed after 3: anything written there is allowed.
  const ReadCheck check = Check(model, model.StartRead(0, 1), 0, PageOf(0, {2, 0, 0, 0}));
  EXPECT_EQ(check.wrong_blocks, 0u);
  EXPECT_EQ(check.blocks_unsettled, 1u);
  // Never something not sent.
  EXPECT_EQ(Check(model, model.StartRead(0, 1), 0, PageOf(0, {4, 0, 0, 0}))
                .wrong_by_kind.count("never-written"),
            1u);
}

TEST(SoakModelTest, WrongBlocksAreNamedByKind) {
  VolumeModel model("v", kVolumeId, kGeometry, kSeed);
  model.EndWrite(model.BeginWrite(1, 0, 4), WriteOutcome::kAcknowledged);
  const ReadFloor floor = model.StartRead(0, 4);
  // Another page's blocks, another volume's (a deleted incarnation of the name), and a torn
  // block.
  std::string data = PageOf(0, {1, 1, 1, 1});
  EXPECT_EQ(Check(model, floor, 1, data).wrong_by_kind.at("misplaced"), 4u);
  data = PageOf(1, {1, 1, 1, 1}, kVolumeId + 1);
  EXPECT_EQ(Check(model, floor, 1, data).wrong_by_kind.at("misplaced"), 4u);
  data = PageOf(1, {1, 1, 1, 1});
  data[1024 + 500] ^= 1;
  const ReadCheck torn = Check(model, floor, 1, data);
  EXPECT_EQ(torn.wrong_blocks, 1u);
  EXPECT_EQ(torn.wrong_by_kind.at("garbage"), 1u);
  EXPECT_EQ(Check(model, floor, 1, data.substr(0, 4000)).wrong_by_kind.at("short-page"), 1u);
  // A page outside the read's range.
  EXPECT_EQ(
      Check(model, model.StartRead(2, 1), 1, PageOf(1, {1, 1, 1, 1})).wrong_by_kind.at("misplaced"),
      1u);
}

TEST(SoakModelTest, PastTheEndMustBeZeros) {
  VolumeModel model("v", kVolumeId, kGeometry, kSeed);
  EXPECT_EQ(kGeometry.blocks_in_page(3), 2u);
  model.EndWrite(model.BeginWrite(3, 0, 2), WriteOutcome::kAcknowledged);
  const ReadFloor floor = model.StartRead(3, 1);
  EXPECT_EQ(Check(model, floor, 3, PageOf(3, {1, 1, 0, 0})).wrong_blocks, 0u);
  EXPECT_EQ(Check(model, floor, 3, PageOf(3, {1, 1, 0, 1})).wrong_by_kind.at("past-end-not-zero"),
            1u);
}

TEST(SoakModelTest, ChecksAddUpWithCappedDetails) {
  ReadCheck total;
  total.max_details = 3;
  ReadCheck one;
  one.pages_checked = 2;
  one.wrong_blocks = 5;
  one.wrong_pages = 1;
  one.wrong_by_kind["stale"] = 5;
  for (int i = 0; i < 5; ++i) one.details.push_back({"stale", "x"});
  total.Add(one);
  total.Add(one);
  EXPECT_EQ(total.pages_checked, 4u);
  EXPECT_EQ(total.wrong_blocks, 10u);
  EXPECT_EQ(total.wrong_pages, 2u);
  EXPECT_EQ(total.wrong_by_kind["stale"], 10u);
  EXPECT_EQ(total.details.size(), 3u);
}

}  // namespace
}  // namespace soak
}  // namespace blockstore
