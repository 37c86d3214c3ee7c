#include "server/fuzz/volume_model.h"

#include <string>

#include "gtest/gtest.h"

namespace blockstore {
namespace {

using grpc::StatusCode;

// 3 pages of 4 KiB in 1 KiB blocks, the last one half: 10 KiB.
const Geometry kGeometry{10 * 1024, 4096, 1024};

v1::WritePageRequest Write(uint64_t page, uint32_t offset, std::string data) {
  v1::WritePageRequest request;
  request.set_volume("v");
  request.set_page_index(page);
  request.set_offset_bytes(offset);
  request.set_data(std::move(data));
  return request;
}

std::string Page(char fill_first_block) {
  std::string page(4096, '\0');
  std::fill(page.begin(), page.begin() + 1024, fill_first_block);
  return page;
}

TEST(VolumeModelTest, PageCountNeverWraps) {
  EXPECT_EQ(kGeometry.page_count(), 3u);
  const Geometry huge{~uint64_t{0} - 511, 4096, 512};
  EXPECT_EQ(huge.page_count(), (~uint64_t{0} >> 12) + 1);
}

TEST(VolumeModelTest, NamesFollowTheProto) {
  EXPECT_TRUE(IsValidVolumeName("a"));
  EXPECT_TRUE(IsValidVolumeName("0a.b_c-d"));
  EXPECT_TRUE(IsValidVolumeName(std::string(128, 'x')));
  EXPECT_FALSE(IsValidVolumeName(std::string(129, 'x')));
  EXPECT_FALSE(IsValidVolumeName(""));
  EXPECT_FALSE(IsValidVolumeName("."));
  EXPECT_FALSE(IsValidVolumeName(".."));
  EXPECT_FALSE(IsValidVolumeName("-a"));
  EXPECT_FALSE(IsValidVolumeName("a/b"));
  EXPECT_FALSE(IsValidVolumeName(std::string("a\0b", 3)));
}

TEST(VolumeModelTest, WriteCodesAreTheUnionOfBrokenRules) {
  VolumeModel model;
  model.Add("v", kGeometry);
  EXPECT_TRUE(model.ExpectWrite(Write(2, 1024, std::string(1024, 'x'))).Contains(StatusCode::OK));
  // The end of the half page is past the volume.
  const CodeSet past_end = model.ExpectWrite(Write(2, 2048, std::string(1024, 'x')));
  EXPECT_EQ(past_end.ToString(), "{OUT_OF_RANGE}");
  // Unaligned and past the last page: either code may come first.
  const CodeSet both = model.ExpectWrite(Write(3, 1, std::string(1024, 'x')));
  EXPECT_EQ(both.ToString(), "{INVALID_ARGUMENT, OUT_OF_RANGE}");
  EXPECT_EQ(model.ExpectWrite(Write(0, 0, "")).ToString(), "{INVALID_ARGUMENT}");
  // page * page_size wraps to 0 in 64 bits; it is still past the end.
  EXPECT_EQ(
      model.ExpectWrite(Write((~uint64_t{0} >> 12) + 1, 0, std::string(1024, 'x'))).ToString(),
      "{OUT_OF_RANGE}");
  v1::WritePageRequest other = Write(0, 0, std::string(1024, 'x'));
  other.set_volume("w");
  EXPECT_EQ(model.ExpectWrite(other).ToString(), "{NOT_FOUND}");
  other.set_volume("a/b");
  EXPECT_EQ(model.ExpectWrite(other).ToString(), "{INVALID_ARGUMENT}");
}

TEST(VolumeModelTest, CreateAndReadRangeCodes) {
  VolumeModel model;
  model.Add("v", kGeometry);
  v1::CreateVolumeRequest create;
  create.set_name("v");
  create.set_size_bytes(4096);
  EXPECT_EQ(model.ExpectCreate(create).ToString(), "{ALREADY_EXISTS}");
  create.set_name("x");
  EXPECT_EQ(model.ExpectCreate(create).ToString(), "{OK}");
  create.set_block_size_bytes(8192);  // past the default page
  EXPECT_EQ(model.ExpectCreate(create).ToString(), "{INVALID_ARGUMENT}");

  v1::ReadPagesRequest read;
  read.set_volume("v");
  read.set_first_page_index(1);
  read.set_page_count(2);
  EXPECT_EQ(model.ExpectReadPages(read).ToString(), "{OK}");
  read.set_page_count(~uint64_t{0});  // first + count wraps
  EXPECT_EQ(model.ExpectReadPages(read).ToString(), "{OUT_OF_RANGE}");
  read.set_page_count(0);
  EXPECT_EQ(model.ExpectReadPages(read).ToString(), "{INVALID_ARGUMENT}");
}

TEST(VolumeModelTest, ReadsMustShowAcknowledgedWritesAndZerosElsewhere) {
  VolumeModel model;
  model.Add("v", kGeometry);
  EXPECT_EQ(model.CheckPage("v", 0, std::string(4096, '\0')), "");
  model.ApplyWrite(Write(0, 0, std::string(1024, 'a')));
  EXPECT_EQ(model.CheckPage("v", 0, Page('a')), "");
  EXPECT_NE(model.CheckPage("v", 0, Page('b')), "");
  EXPECT_NE(model.CheckPage("v", 0, std::string(4096, '\0')), "");
  EXPECT_NE(model.CheckPage("v", 0, Page('a').substr(1)), "");  // short
  // A refused write changes nothing.
  model.ApplyWrite(Write(0, 1, std::string(1024, 'c')));
  EXPECT_EQ(model.CheckPage("v", 0, Page('a')), "");
  // Past the end of the volume (the second half of page 2): zeros only.
  std::string last(4096, '\0');
  last[3000] = 1;
  EXPECT_NE(model.CheckPage("v", 2, last), "");
}

TEST(VolumeModelTest, AWriteWithoutAnswerIsUnknownUntilAdopted) {
  VolumeModel model;
  model.Add("v", kGeometry);
  model.ApplyWrite(Write(1, 0, std::string(1024, 'a')));
  model.ForgetWrite(Write(1, 0, std::string(1024, 'b')));
  EXPECT_EQ(model.UnknownPages("v"), std::vector<uint64_t>{1});
  EXPECT_EQ(model.CheckPage("v", 1, Page('a')), "");
  EXPECT_EQ(model.CheckPage("v", 1, Page('b')), "");
  // A later acknowledged write does not make it known: the lost one may land after it.
  model.ApplyWrite(Write(1, 0, std::string(1024, 'c')));
  EXPECT_EQ(model.CheckPage("v", 1, Page('b')), "");
  model.Adopt("v", 1, Page('b'));
  EXPECT_TRUE(model.UnknownPages("v").empty());
  EXPECT_NE(model.CheckPage("v", 1, Page('c')), "");
  EXPECT_EQ(model.CheckPage("v", 1, Page('b')), "");
}

}  // namespace
}  // namespace blockstore
