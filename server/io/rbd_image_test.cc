#include "server/io/rbd_image.h"

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/io/testing/ceph_cluster.h"
#include "server/io/testing/rados_objects.h"

namespace blockstore {
namespace {

// One cluster for every test of this binary: a start takes about 10 s.
const CephClusterEnvironment* const ceph = CephClusterEnvironment::Register();

constexpr uint64_t kImageBytes = 1 << 20;

// An image name for the running test; each test makes its own images and removes them.
std::string TestImageName(absl::string_view suffix = "") {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return absl::StrCat("test-", info->name(), suffix);
}

RbdPoolOptions PoolOptions() {
  RbdPoolOptions options;
  options.ceph_conf = ceph->cluster().ceph_conf();
  return options;
}

// Each test gets a connection to the test cluster's pool and a fresh, open 1 MiB image.
class RbdImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (ceph->skip()) GTEST_SKIP() << ceph->status();
    ASSERT_TRUE(ceph->status().ok()) << ceph->status();
    absl::StatusOr<std::shared_ptr<RbdPool>> pool = RbdPool::Connect(PoolOptions());
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
    image_name_ = TestImageName();
    ASSERT_TRUE(pool_->CreateImage(image_name_, kImageBytes).ok());
    absl::StatusOr<std::unique_ptr<RbdImage>> image = pool_->OpenImage(image_name_);
    ASSERT_TRUE(image.ok()) << image.status();
    image_ = *std::move(image);
  }

  void TearDown() override {
    if (pool_ == nullptr) return;
    image_.reset();
    const absl::Status removed = pool_->RemoveImage(image_name_);
    EXPECT_TRUE(removed.ok() || absl::IsNotFound(removed)) << removed;
  }

  std::shared_ptr<RbdPool> pool_;
  std::string image_name_;
  std::unique_ptr<RbdImage> image_;
};

// Separate connections see the same images: the metadata is kept in the cluster with the image.
TEST_F(RbdImageTest, MetadataRoundTripsThroughTheCluster) {
  const std::string long_value(1000, 'x');  // Longer than GetMetadata's first buffer.
  ASSERT_TRUE(image_->SetMetadata("blockstore.page_size_bytes", "16384").ok());
  ASSERT_TRUE(image_->SetMetadata("blockstore.long", long_value).ok());
  ASSERT_TRUE(image_->SetMetadata("blockstore.empty", "").ok());
  image_.reset();

  absl::StatusOr<std::shared_ptr<RbdPool>> other = RbdPool::Connect(PoolOptions());
  ASSERT_TRUE(other.ok()) << other.status();
  absl::StatusOr<std::unique_ptr<RbdImage>> reopened = (*other)->OpenImage(image_name_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->GetMetadata("blockstore.page_size_bytes").value_or("?"), "16384");
  EXPECT_EQ((*reopened)->GetMetadata("blockstore.long").value_or("?"), long_value);
  EXPECT_EQ((*reopened)->GetMetadata("blockstore.empty").value_or("?"), "");
  const absl::StatusOr<std::string> missing = (*reopened)->GetMetadata("blockstore.missing");
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
  EXPECT_TRUE(absl::StrContains(missing.status().message(), image_name_)) << missing.status();
  EXPECT_EQ((*reopened)->SizeBytes().value_or(0), kImageBytes);
  EXPECT_EQ((*reopened)->SetMetadata("nul", absl::string_view("a\0b", 3)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RbdImageTest, CreateListAndRemoveImages) {
  const std::string a = TestImageName("-a");
  const std::string b = TestImageName("-b");
  ASSERT_TRUE(pool_->CreateImage(a, 1 << 20).ok());
  ASSERT_TRUE(pool_->CreateImage(b, 1 << 20).ok());
  const absl::Status again = pool_->CreateImage(a, 1 << 20);
  EXPECT_TRUE(absl::IsAlreadyExists(again)) << again;
  EXPECT_TRUE(absl::StrContains(again.message(), a)) << again;

  absl::StatusOr<std::vector<std::string>> names = pool_->ListImages();
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_TRUE(std::is_sorted(names->begin(), names->end()));
  for (const std::string& name : {a, b, image_name_}) {
    EXPECT_TRUE(std::find(names->begin(), names->end(), name) != names->end()) << name;
  }

  ASSERT_TRUE(pool_->RemoveImage(a).ok());
  names = pool_->ListImages();
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_TRUE(std::find(names->begin(), names->end(), a) == names->end());
  const absl::Status gone = pool_->RemoveImage(a);
  EXPECT_TRUE(absl::IsNotFound(gone)) << gone;
  ASSERT_TRUE(pool_->RemoveImage(b).ok());
}

// What librbd resolves a name to (its id object) is the id the directory lists for it.
TEST_F(RbdImageTest, ANameResolvesToTheIdTheDirectoryListsForIt) {
  absl::StatusOr<std::string> id = pool_->ResolveImageId(image_name_);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_FALSE(id->empty());
  absl::StatusOr<std::vector<RbdPool::ListedImage>> listed = pool_->ListImagesWithIds();
  ASSERT_TRUE(listed.ok()) << listed.status();
  const auto it = std::find_if(listed->begin(), listed->end(), [&](const RbdPool::ListedImage& i) {
    return i.name == image_name_;
  });
  ASSERT_NE(it, listed->end());
  EXPECT_EQ(it->id, *id);
  EXPECT_TRUE(absl::IsNotFound(pool_->ResolveImageId(TestImageName("-none")).status()));
  image_.reset();
  ASSERT_TRUE(pool_->RemoveImage(image_name_).ok());
  EXPECT_TRUE(absl::IsNotFound(pool_->ResolveImageId(image_name_).status()));
}

// A name's id object goes only while it still names the image it named when it was read: the
// compare and the removal are one RADOS op.
TEST_F(RbdImageTest, AnIdObjectIsRemovedOnlyWhileItNamesTheGivenImage) {
  const std::string name = TestImageName("-stray");
  ASSERT_TRUE(WriteRadosObject(PoolOptions(), "rbd_id." + name, EncodedImageId("5e1f0a2b")).ok());
  absl::StatusOr<std::string> id = pool_->ResolveImageId(name);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "5e1f0a2b");
  const absl::Status changed = pool_->RemoveImageIdIf(name, "5e1f0a2c");
  EXPECT_TRUE(absl::IsUnavailable(changed)) << changed;
  EXPECT_TRUE(absl::IsUnavailable(pool_->RemoveImageIdIf(name, "5e1f0a2b0")));
  EXPECT_TRUE(pool_->ResolveImageId(name).ok());
  EXPECT_TRUE(pool_->RemoveImageIdIf(name, "5e1f0a2b").ok());
  EXPECT_TRUE(absl::IsNotFound(pool_->ResolveImageId(name).status()));
  EXPECT_TRUE(pool_->RemoveImageIdIf(name, "5e1f0a2b").ok());  // gone: nothing to do
}

// An object under an id object's name that librbd did not write is not taken for one.
TEST_F(RbdImageTest, AnObjectThatIsNotAnIdIsNotResolved) {
  const std::string name = TestImageName("-junk");
  for (const std::string& bytes :
       {std::string("ab"), EncodedImageId("abc") + "d", EncodedImageId("")}) {
    ASSERT_TRUE(WriteRadosObject(PoolOptions(), "rbd_id." + name, bytes).ok());
    const absl::Status resolved = pool_->ResolveImageId(name).status();
    EXPECT_TRUE(absl::IsFailedPrecondition(resolved)) << resolved;
  }
  EXPECT_TRUE(pool_->RemoveStrayImageId(name).ok());
}

TEST_F(RbdImageTest, RenameMovesTheImageWithItsMetadataAndNeverOntoAnother) {
  const std::string from = TestImageName("-from");
  const std::string to = TestImageName("-to");
  ASSERT_TRUE(pool_->CreateImage(from, 1 << 20).ok());
  {
    absl::StatusOr<std::unique_ptr<RbdImage>> image = pool_->OpenImage(from);
    ASSERT_TRUE(image.ok()) << image.status();
    ASSERT_TRUE((*image)->SetMetadata("k", "v").ok());
  }
  const absl::Status onto_existing = pool_->RenameImage(from, image_name_);
  EXPECT_TRUE(absl::IsAlreadyExists(onto_existing)) << onto_existing;
  ASSERT_TRUE(pool_->RenameImage(from, to).ok());
  EXPECT_TRUE(absl::IsNotFound(pool_->OpenImage(from).status()));
  absl::StatusOr<std::unique_ptr<RbdImage>> renamed = pool_->OpenImage(to);
  ASSERT_TRUE(renamed.ok()) << renamed.status();
  EXPECT_EQ((*renamed)->GetMetadata("k").value_or(""), "v");
  renamed->reset();
  const absl::Status missing = pool_->RenameImage(from, to + "-again");
  EXPECT_TRUE(absl::IsNotFound(missing)) << missing;
  ASSERT_TRUE(pool_->RemoveImage(to).ok());
}

TEST_F(RbdImageTest, AnImageOpenAndLockedHereCanBeRenamedAndStaysUsable) {
  const std::string from = TestImageName("-open-from");
  const std::string to = TestImageName("-open-to");
  ASSERT_TRUE(pool_->CreateImage(from, 1 << 20).ok());
  absl::StatusOr<std::unique_ptr<RbdImage>> image = pool_->OpenImage(from);
  ASSERT_TRUE(image.ok()) << image.status();
  ASSERT_TRUE((*image)->AcquireExclusiveLock().ok());
  ASSERT_TRUE((*image)->SetMetadata("k", "before").ok());
  const absl::Status renamed = pool_->RenameImage(from, to, image->get());
  ASSERT_TRUE(renamed.ok()) << renamed;
  EXPECT_EQ((*image)->name(), to);
  EXPECT_TRUE((*image)->SetMetadata("k", "after").ok());
  std::string block(4096, 'x');
  EXPECT_EQ(rbd_write((*image)->handle(), 0, block.size(), block.data()),
            static_cast<ssize_t>(block.size()));
  EXPECT_EQ((*image)->LockOwners().value_or(std::vector<std::string>()).size(), 1u);
  absl::StatusOr<std::unique_ptr<RbdImage>> other = pool_->OpenImage(to);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ((*other)->GetMetadata("k").value_or(""), "after");
  std::string read(4096, '\0');
  EXPECT_EQ(rbd_read((*other)->handle(), 0, read.size(), read.data()),
            static_cast<ssize_t>(read.size()));
  EXPECT_EQ(read, block);
  other->reset();
  image->reset();
  ASSERT_TRUE(pool_->RemoveImage(to).ok());
}

TEST_F(RbdImageTest, OpeningAMissingImageIsNotFound) {
  absl::StatusOr<std::unique_ptr<RbdImage>> image = pool_->OpenImage("no-such-image");
  EXPECT_TRUE(absl::IsNotFound(image.status())) << image.status();
  EXPECT_TRUE(absl::StrContains(image.status().message(), "no-such-image")) << image.status();
  EXPECT_TRUE(absl::StrContains(image.status().message(), "errno 2")) << image.status();
}

// The image is open in this test (image_): its watcher keeps rbd_remove from removing it.
TEST_F(RbdImageTest, RemovingAnOpenImageIsFailedPrecondition) {
  const absl::Status status = pool_->RemoveImage(image_name_);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), image_name_)) << status;
}

TEST(RbdPoolTest, ConnectingToAMissingPoolIsNotFound) {
  if (ceph->skip()) GTEST_SKIP() << ceph->status();
  ASSERT_TRUE(ceph->status().ok()) << ceph->status();
  RbdPoolOptions options = PoolOptions();
  options.pool = "no-such-pool";
  absl::StatusOr<std::shared_ptr<RbdPool>> pool = RbdPool::Connect(options);
  EXPECT_TRUE(absl::IsNotFound(pool.status())) << pool.status();
  EXPECT_TRUE(absl::StrContains(pool.status().message(), "no-such-pool")) << pool.status();
}

TEST(RbdErrorToStatusTest, MapsCephsFailuresToTheDocumentedCodes) {
  EXPECT_EQ(RbdErrorToStatus(-ENOENT, "x").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(RbdErrorToStatus(-EEXIST, "x").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(RbdErrorToStatus(-ESHUTDOWN, "x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(RbdErrorToStatus(-ETIMEDOUT, "x").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(RbdErrorToStatus(-ENOSPC, "x").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(RbdErrorToStatus(-EDQUOT, "x").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(RbdErrorToStatus(-EINVAL, "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RbdErrorToStatus(-ENOENT, "opening RBD image v").message(),
            "opening RBD image v: No such file or directory (errno 2)");
}

TEST(RbdPoolTest, ConnectingWithAMissingConfigurationFileFails) {
  RbdPoolOptions options;
  options.ceph_conf = "/nonexistent/ceph.conf";
  absl::StatusOr<std::shared_ptr<RbdPool>> pool = RbdPool::Connect(options);
  EXPECT_FALSE(pool.ok());
  EXPECT_TRUE(absl::StrContains(pool.status().message(), "/nonexistent/ceph.conf"))
      << pool.status();
}

}  // namespace
}  // namespace blockstore
