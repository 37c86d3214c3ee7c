#include "server/volume/volume_state.h"

#include <random>
#include <string>

#include "absl/random/random.h"
#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"

namespace blockstore {
namespace {

TEST(VolumeStateTest, RoundTripsThroughItsFileFormat) {
  VolumeState state;
  state.incarnation = 12345;
  state.clean = false;
  absl::StatusOr<VolumeState> parsed = ParseVolumeState(SerializeVolumeState(state));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->incarnation, 12345u);
  EXPECT_FALSE(parsed->clean);
}

TEST(VolumeStateTest, BadTextIsDataLoss) {
  for (const char* text :
       {"", "format=1\nincarnation=3\n", "format=2\nincarnation=3\nclean=1\n",
        "format=1\nincarnation=x\nclean=1\n", "format=1\nincarnation=3\nclean=7\n",
        "format=1\nincarnation=4294967295\nclean=1\n"}) {
    EXPECT_EQ(ParseVolumeState(text).status().code(), absl::StatusCode::kDataLoss) << text;
  }
}

TEST(VolumeStateTest, AMissingFileIsAVolumeFromBeforeStateFiles) {
  TempDir dir;
  absl::StatusOr<VolumeState> state = ReadVolumeState(dir.path() + "/none.state");
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->incarnation, 0u);
  EXPECT_TRUE(state->clean);
}

TEST(VolumeStateTest, WrittenStateIsReadBack) {
  TempDir dir;
  const std::string path = dir.path() + "/v.state";
  VolumeState state;
  state.incarnation = 7;
  state.clean = false;
  ASSERT_TRUE(WriteVolumeState(dir.path(), path, state).ok());
  absl::StatusOr<VolumeState> read = ReadVolumeState(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->incarnation, 7u);
  EXPECT_FALSE(read->clean);
}

TEST(VolumeStateTest, IncarnationsStayPositiveAndBelowTwoToThe31) {
  std::mt19937 gen(1);
  for (int i = 0; i < 1000; ++i) {
    const uint32_t first = FirstIncarnation(gen);
    EXPECT_GE(first, 1u);
    EXPECT_LE(first, kMaxIncarnation);
  }
  EXPECT_EQ(NextIncarnation(5), 6u);
  EXPECT_EQ(NextIncarnation(kMaxIncarnation), 1u);
  EXPECT_EQ(NextIncarnation(0), 1u);
}

}  // namespace
}  // namespace blockstore
