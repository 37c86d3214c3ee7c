#include "server/fuzz/fuzz_input.h"

#include "gtest/gtest.h"

namespace blockstore {
namespace {

TEST(FuzzInputTest, ReadsLittleEndianFrontToBack) {
  const uint8_t bytes[] = {1, 0x34, 0x12, 0x78, 0x56, 0x34, 0x12, 'a', 'b'};
  FuzzInput input(bytes, sizeof(bytes));
  EXPECT_EQ(input.Byte(), 1);
  EXPECT_EQ(input.U16(), 0x1234);
  EXPECT_EQ(input.U32(), 0x12345678u);
  EXPECT_EQ(input.remaining(), 2u);
  EXPECT_EQ(input.Bytes(5), "ab");  // fewer at the end
  EXPECT_TRUE(input.empty());
}

TEST(FuzzInputTest, PastTheEndEveryReadIsZero) {
  const uint8_t bytes[] = {0xff};
  FuzzInput input(bytes, sizeof(bytes));
  EXPECT_EQ(input.U64(), 0xffu);
  EXPECT_EQ(input.Byte(), 0);
  EXPECT_FALSE(input.Bool());
  EXPECT_EQ(input.Choose(7), 0u);
  EXPECT_EQ(input.Bytes(3), "");
}

TEST(FuzzInputTest, ChooseTakesTheByteModuloTheCount) {
  const uint8_t bytes[] = {10, 255};
  FuzzInput input(bytes, sizeof(bytes));
  EXPECT_EQ(input.Choose(4), 2u);
  EXPECT_EQ(input.Choose(256), 255u);
}

}  // namespace
}  // namespace blockstore
