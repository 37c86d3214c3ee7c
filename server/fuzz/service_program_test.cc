#include "server/fuzz/service_program.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "server/fuzz/fixed_volumes.h"

namespace blockstore {
namespace {

VolumeModel FixedModel() {
  VolumeModel model;
  for (const FixedVolume& fixed : kFixedVolumes) {
    model.Add(fixed.name,
              Geometry{fixed.size_bytes, fixed.page_size_bytes, fixed.block_size_bytes});
  }
  return model;
}

std::vector<Op> Decode(const std::vector<uint8_t>& bytes, const VolumeModel& model) {
  FuzzInput input(bytes.data(), bytes.size());
  ServiceProgram program(&input, &model);
  std::vector<Op> ops;
  Op op;
  while (program.Next(&op)) ops.push_back(op);
  return ops;
}

template <typename Enum>
uint8_t B(Enum choice) {
  return static_cast<uint8_t>(choice);
}

TEST(ServiceProgramTest, AWriteAimsAtTheEdgesOfTheVolumeItNames) {
  const VolumeModel model = FixedModel();
  // b: 64 KiB pages of 512 B blocks, 5 pages.
  const std::vector<uint8_t> bytes = {B(OpKind::kWritePage),
                                      B(NameChoice::kB),
                                      B(PageChoice::kLast),
                                      B(OffsetChoice::kLastBlock),
                                      B(LengthChoice::kBlock),
                                      1 /* fua */,
                                      42,
                                      0,
                                      0,
                                      0,
                                      0,
                                      0,
                                      0,
                                      0 /* request_id */};
  const std::vector<Op> ops = Decode(bytes, model);
  ASSERT_EQ(ops.size(), 1u);
  const v1::WritePageRequest& write = ops[0].write;
  EXPECT_EQ(write.volume(), "b");
  EXPECT_EQ(write.page_index(), 4u);
  EXPECT_EQ(write.offset_bytes(), 65536u - 512);
  EXPECT_EQ(write.data().size(), 512u);
  EXPECT_TRUE(write.fua());
  EXPECT_EQ(write.request_id(), 42u);
}

TEST(ServiceProgramTest, MessageLimitLengthsLandOnTheLimit) {
  const VolumeModel model = FixedModel();
  for (uint8_t where = 0; where < 9; ++where) {
    const std::vector<uint8_t> bytes = {B(OpKind::kWritePage),          B(NameChoice::kB),
                                        B(PageChoice::kZero),           B(OffsetChoice::kZero),
                                        B(LengthChoice::kMessageLimit), where};
    const std::vector<Op> ops = Decode(bytes, model);
    ASSERT_EQ(ops.size(), 1u);
    EXPECT_EQ(ops[0].write.ByteSizeLong(), 65536u + 4096 + where - 4);
  }
}

TEST(ServiceProgramTest, StreamsAndBatchesNumberTheirWrites) {
  const VolumeModel model = FixedModel();
  const std::vector<uint8_t> bytes = {B(OpKind::kWritePageBatches),
                                      3,
                                      1,
                                      B(NameChoice::kA),
                                      B(PageChoice::kZero),
                                      B(OffsetChoice::kZero),
                                      B(LengthChoice::kBlock),
                                      0,
                                      0,
                                      2,
                                      B(NameChoice::kA),
                                      B(PageChoice::kOne),
                                      B(OffsetChoice::kZero),
                                      B(LengthChoice::kBlock),
                                      0,
                                      B(NameChoice::kC),
                                      B(PageChoice::kOne),
                                      B(OffsetChoice::kZero),
                                      B(LengthChoice::kBlock),
                                      0,
                                      3 + 4 * 2 /* cancel after 2 messages */};
  const std::vector<Op> ops = Decode(bytes, model);
  ASSERT_EQ(ops.size(), 1u);
  ASSERT_EQ(ops[0].batches.size(), 3u);
  EXPECT_EQ(ops[0].batches[1].writes_size(), 0);
  EXPECT_EQ(ops[0].batches[2].writes(1).request_id(), 2u);
  EXPECT_EQ(ops[0].batches[2].writes(1).volume(), "c");
  EXPECT_EQ(ops[0].cancel_after, 2);
}

// Random inputs: whatever the bytes, no write to the witness is valid, no delete names a fixed
// volume, and an input stays within its bounds.
TEST(ServiceProgramTest, RandomInputsKeepTheRules) {
  const VolumeModel model = FixedModel();
  std::mt19937 random(20261207);
  int witness_writes = 0;
  for (int round = 0; round < 3000; ++round) {
    std::vector<uint8_t> bytes(random() % 600);
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(random());
    const std::vector<Op> ops = Decode(bytes, model);
    EXPECT_LE(ops.size(), kMaxOps);
    size_t data = 0;
    auto check = [&](const v1::WritePageRequest& write) {
      data += write.data().size();
      EXPECT_LE(write.data().size(), kMaxDataBytes + 1);  // +1: a spoiled witness write
      if (write.volume() == kWitnessVolume) {
        ++witness_writes;
        EXPECT_FALSE(model.ExpectWrite(write).Contains(grpc::StatusCode::OK))
            << write.ShortDebugString();
      }
    };
    for (const Op& op : ops) {
      if (op.kind == OpKind::kDeleteVolume) {
        EXPECT_FALSE(IsFixedVolume(op.volume)) << op.volume;
      }
      if (op.kind == OpKind::kWritePage) check(op.write);
      for (const v1::WritePageRequest& write : op.writes) check(write);
      for (const v1::WritePageBatchRequest& batch : op.batches) {
        for (const v1::WritePageRequest& write : batch.writes()) check(write);
      }
    }
    EXPECT_LE(data, kDataBudgetBytes + kMaxOps * kMaxStreamWrites * kMaxBatches);
  }
  EXPECT_GT(witness_writes, 100);  // the rule was exercised
}

TEST(ServiceProgramTest, WriteDataDiffersBetweenWritesAndIsNeverZero) {
  const std::string a = WriteData(4096, 1);
  const std::string b = WriteData(4096, 2);
  EXPECT_NE(a, b);
  for (size_t at = 0; at < a.size(); at += 512) {
    EXPECT_NE(a.substr(at, 512), std::string(512, '\0'));
    EXPECT_NE(a.substr(at, 512), b.substr(at, 512));
  }
}

}  // namespace
}  // namespace blockstore
