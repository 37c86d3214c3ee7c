// The crash harness's model (crash_model.h) on its own: what it accepts after a restart and what
// it reports, without a server.

#include "server/integration/crash_model.h"

#include <string>

#include "gtest/gtest.h"

namespace blockstore {
namespace crash {
namespace {

constexpr uint64_t kSeed = 99;

// 2 pages of 4 KiB with 1 KiB blocks; the second page holds 3 blocks of the volume.
Geometry SmallGeometry() { return Geometry{4096 + 3 * 1024, 4096, 1024}; }

// Page `page` as the server would return it, built block by block: generation 0 is zeros.
std::string PageOf(const VolumeModel& model, uint64_t page, std::vector<uint64_t> generations) {
  std::string data;
  const uint32_t block_size = model.geometry().block_size;
  for (uint32_t block = 0; block < model.geometry().blocks_per_page(); ++block) {
    const uint64_t generation = block < generations.size() ? generations[block] : 0;
    data += generation == 0
                ? std::string(block_size, '\0')
                : EncodeBlock(kSeed, model.volume_id(), page, block, generation, block_size);
  }
  return data;
}

std::string Kinds(const CheckResult& result) {
  std::string kinds;
  for (const Violation& violation : result.violations) kinds += violation.kind + ";";
  return kinds;
}

TEST(CrashModelTest, BlocksDecodeToWhatTheyName) {
  const std::string block = EncodeBlock(kSeed, 7, 3, 2, 5, 1024);
  DecodedBlock decoded = DecodeBlock(block, kSeed);
  ASSERT_EQ(decoded.kind, DecodedBlock::Kind::kValid) << decoded.problem;
  EXPECT_EQ(decoded.volume_id, 7u);
  EXPECT_EQ(decoded.page, 3u);
  EXPECT_EQ(decoded.block, 2u);
  EXPECT_EQ(decoded.generation, 5u);
  EXPECT_EQ(DecodeBlock(std::string(1024, '\0'), kSeed).kind, DecodedBlock::Kind::kZero);
  EXPECT_EQ(DecodeBlock(block, kSeed + 1).kind, DecodedBlock::Kind::kGarbage);
  std::string torn = block;
  torn[700] ^= 1;
  decoded = DecodeBlock(torn, kSeed);
  EXPECT_EQ(decoded.kind, DecodedBlock::Kind::kGarbage);
  EXPECT_NE(decoded.problem.find("torn"), std::string::npos) << decoded.problem;
  // Half new, half zeros: a torn write.
  std::string half = block.substr(0, 512) + std::string(512, '\0');
  EXPECT_EQ(DecodeBlock(half, kSeed).kind, DecodedBlock::Kind::kGarbage);
}

TEST(CrashModelTest, DescribeBlockSaysWhatABlockHolds) {
  EXPECT_EQ(DescribeBlock(std::string(1024, '\0'), kSeed, 7, 3, 2), "zeros");
  EXPECT_EQ(DescribeBlock(EncodeBlock(kSeed, 7, 3, 2, 5, 1024), kSeed, 7, 3, 2), "generation 5");
  EXPECT_EQ(DescribeBlock(EncodeBlock(kSeed, 7, 3, 2, 5, 1024), kSeed, 7, 3, 1),
            "volume id 7 page 3 block 2 generation 5");
  EXPECT_NE(DescribeBlock(std::string(1024, 'x'), kSeed, 7, 3, 2).find("no block header"),
            std::string::npos);
}

TEST(CrashModelTest, AnAcknowledgedWriteMayBeLostUntilItIsDurable) {
  VolumeModel model("v", 1, SmallGeometry());
  const WriteTicket ticket = model.BeginWrite(0, 0, 4, false);
  model.Acknowledge(ticket, 1);
  CheckResult result;
  model.CheckPage(0, PageOf(model, 0, {0, 0, 0, 0}), kSeed, &result);
  EXPECT_TRUE(result.violations.empty()) << Kinds(result);
  EXPECT_EQ(result.lost_blocks, 4u);
  EXPECT_EQ(result.blocks_checked, 4u);
}

TEST(CrashModelTest, AFlushThatStartedAfterTheAcknowledgementMakesItDurable) {
  VolumeModel model("v", 1, SmallGeometry());
  const WriteTicket first = model.BeginWrite(0, 0, 1, false);
  model.Acknowledge(first, 1);
  const WriteTicket second = model.BeginWrite(0, 1, 1, false);
  model.Acknowledge(second, 3);
  model.FlushSucceeded(2);  // started after the first acknowledgement, before the second
  EXPECT_EQ(model.durable(0, 0), 1u);
  EXPECT_EQ(model.durable(0, 1), 0u);
  CheckResult result;
  model.CheckPage(0, PageOf(model, 0, {0, 0}), kSeed, &result);
  EXPECT_EQ(Kinds(result), "durable-lost;");
  EXPECT_EQ(result.lost_blocks, 2u);
}

TEST(CrashModelTest, AnOkFuaWriteIsDurable) {
  VolumeModel model("v", 1, SmallGeometry());
  const WriteTicket ticket = model.BeginWrite(0, 2, 2, true);
  model.Acknowledge(ticket, 1);
  CheckResult result;
  model.CheckPage(0, PageOf(model, 0, {0, 0, 1, 0}), kSeed, &result);
  EXPECT_EQ(Kinds(result), "durable-lost;");
  EXPECT_NE(result.violations[0].detail.find("block 3"), std::string::npos)
      << result.violations[0].detail;
}

TEST(CrashModelTest, AWriteInFlightMayOrMayNotHaveLanded) {
  for (uint64_t landed : {0, 1}) {
    VolumeModel model("v", 1, SmallGeometry());
    model.BeginWrite(0, 0, 1, false);  // never answered
    CheckResult result;
    model.CheckPage(0, PageOf(model, 0, {landed}), kSeed, &result);
    EXPECT_TRUE(result.violations.empty()) << Kinds(result);
    EXPECT_EQ(result.lost_blocks, 0u);
  }
}

TEST(CrashModelTest, WhatWasNeverWrittenThereIsReported) {
  VolumeModel model("v", 1, SmallGeometry());
  model.Acknowledge(model.BeginWrite(0, 0, 1, false), 1);
  // A generation not given out yet; page 1's block in page 0; another volume's block.
  std::string data = PageOf(model, 0, {2});
  data.replace(1024, 1024, EncodeBlock(kSeed, 1, 1, 1, 1, 1024));
  data.replace(2048, 1024, EncodeBlock(kSeed, 2, 0, 2, 1, 1024));
  CheckResult result;
  model.CheckPage(0, data, kSeed, &result);
  EXPECT_EQ(Kinds(result), "never-written;misplaced;misplaced;");
  EXPECT_EQ(result.violations[1].page, 0u);
  EXPECT_EQ(result.violations[1].block, 1u);
}

TEST(CrashModelTest, ABlockNeverGoesBehindWhatARestartRead) {
  VolumeModel model("v", 1, SmallGeometry());
  model.Acknowledge(model.BeginWrite(0, 0, 1, false), 1);
  model.Acknowledge(model.BeginWrite(0, 0, 1, false), 2);
  CheckResult first;
  model.CheckPage(0, PageOf(model, 0, {2}), kSeed, &first);  // generation 2 made it to the file
  EXPECT_TRUE(first.violations.empty()) << Kinds(first);
  CheckResult second;
  model.CheckPage(0, PageOf(model, 0, {1}), kSeed, &second);
  EXPECT_EQ(Kinds(second), "went-back;");
}

TEST(CrashModelTest, AWriteThatWasNotThereAfterARestartNeverComesBack) {
  VolumeModel model("v", 1, SmallGeometry());
  model.Acknowledge(model.BeginWrite(0, 0, 1, false), 1);
  model.BeginWrite(0, 0, 1, false);  // generation 2, in flight at the kill
  CheckResult first;
  model.CheckPage(0, PageOf(model, 0, {1}), kSeed, &first);
  EXPECT_TRUE(first.violations.empty()) << Kinds(first);
  CheckResult second;
  model.CheckPage(0, PageOf(model, 0, {2}), kSeed, &second);
  EXPECT_EQ(Kinds(second), "resurrected;");
}

TEST(CrashModelTest, BlocksPastTheEndReadAsZeros) {
  VolumeModel model("v", 1, SmallGeometry());
  EXPECT_EQ(model.geometry().blocks_in_page(1), 3u);
  std::string data = PageOf(model, 1, {});
  CheckResult result;
  model.CheckPage(1, data, kSeed, &result);
  EXPECT_TRUE(result.violations.empty()) << Kinds(result);
  EXPECT_EQ(result.blocks_checked, 3u);
  data[3 * 1024 + 5] = 1;
  model.CheckPage(1, data, kSeed, &result);
  EXPECT_EQ(Kinds(result), "past-end-not-zero;");
  model.CheckPage(1, data.substr(0, 1024), kSeed, &result);
  EXPECT_EQ(Kinds(result), "past-end-not-zero;short-page;");
}

}  // namespace
}  // namespace crash
}  // namespace blockstore
