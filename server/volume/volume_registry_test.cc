// VolumeRegistry on a real data directory and the synchronous backend: what survives a restart,
// and what the error cursor means across one.
#include "server/volume/volume_registry.h"

#include <unistd.h>

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"
#include "server/io/sync_backend.h"
#include "server/volume/volume_state.h"

namespace blockstore {
namespace {

class VolumeRegistryTest : public ::testing::Test {
 protected:
  VolumeRegistryTest() {
    options_.prefault_cache = false;
    options_.cache_bytes = 8 << 20;
    options_.dirty_limit_bytes = 4 << 20;
    options_.dirty_background_bytes = 2 << 20;
  }

  std::unique_ptr<VolumeRegistry> Open() {
    absl::StatusOr<std::unique_ptr<VolumeRegistry>> registry =
        VolumeRegistry::Open(dir_.path(), options_, &backend_);
    EXPECT_TRUE(registry.ok()) << registry.status();
    return registry.ok() ? std::move(*registry) : nullptr;
  }

  std::shared_ptr<Volume> Create(VolumeRegistry* registry, const std::string& name) {
    VolumeConfig config;
    config.name = name;
    config.size_bytes = 1 << 20;
    absl::StatusOr<std::shared_ptr<Volume>> volume = registry->Create(config);
    EXPECT_TRUE(volume.ok()) << volume.status();
    return volume.ok() ? *volume : nullptr;
  }

  TempDir dir_;
  VolumeOptions options_;
  SyncBackend backend_;
};

TEST_F(VolumeRegistryTest, ACursorFromBeforeAnUncleanStopGetsDataLossOnce) {
  // Method: write into the cache (acknowledged, not flushed), keep the cursor, let the process
  // "die" (the registry goes without its shutdown flush), reopen: the old cursor's Flush says
  // DATA_LOSS and why; the cursor it returns flushes OK.
  ErrorCursor cursor;
  uint32_t first_incarnation;
  {
    std::unique_ptr<VolumeRegistry> registry = Open();
    std::shared_ptr<Volume> volume = Create(registry.get(), "v");
    cursor = volume->SampleErrorCursor();
    first_incarnation = volume->incarnation();
    EXPECT_GE(first_incarnation, 1u);
    ASSERT_TRUE(volume->WriteSync(3, 0, std::string(4096, 'a')).ok());
  }
  std::unique_ptr<VolumeRegistry> registry = Open();
  absl::StatusOr<std::shared_ptr<Volume>> volume = registry->Get("v");
  ASSERT_TRUE(volume.ok());
  EXPECT_EQ((*volume)->incarnation(), NextIncarnation(first_incarnation));
  const FlushSummary stale = (*volume)->FlushSync(cursor);
  EXPECT_EQ(stale.status.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(stale.status.message().find("unclean stop"), std::string::npos) << stale.status;
  EXPECT_TRUE((*volume)->FlushSync(stale.error_cursor).status.ok());
}

TEST_F(VolumeRegistryTest, ACleanStopKeepsTheIncarnationAndEveryCursor) {
  ErrorCursor cursor;
  uint32_t incarnation;
  {
    std::unique_ptr<VolumeRegistry> registry = Open();
    std::shared_ptr<Volume> volume = Create(registry.get(), "v");
    cursor = volume->SampleErrorCursor();
    incarnation = volume->incarnation();
    ASSERT_TRUE(volume->WriteSync(3, 0, std::string(4096, 'a')).ok());
    ASSERT_TRUE(registry->StopAndFlushAll().ok());
  }
  std::unique_ptr<VolumeRegistry> registry = Open();
  absl::StatusOr<std::shared_ptr<Volume>> volume = registry->Get("v");
  ASSERT_TRUE(volume.ok());
  EXPECT_EQ((*volume)->incarnation(), incarnation);
  EXPECT_TRUE((*volume)->FlushSync(cursor).status.ok());
  absl::StatusOr<std::string> page = (*volume)->ReadSync(3);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(*page, std::string(4096, 'a'));
}

TEST_F(VolumeRegistryTest, AVolumeFromBeforeStateFilesKeepsItsCursorsUntilAnUncleanStop) {
  {
    std::unique_ptr<VolumeRegistry> registry = Open();
    Create(registry.get(), "old");
    ASSERT_TRUE(registry->StopAndFlushAll().ok());
  }
  ASSERT_EQ(::unlink((dir_.path() + "/old.state").c_str()), 0);  // as an older server left it
  std::unique_ptr<VolumeRegistry> registry = Open();
  absl::StatusOr<std::shared_ptr<Volume>> volume = registry->Get("old");
  ASSERT_TRUE(volume.ok());
  EXPECT_EQ((*volume)->incarnation(), 0u);
  EXPECT_TRUE((*volume)->FlushSync(MakeErrorCursor(0, 0)).status.ok());
}

TEST_F(VolumeRegistryTest, ARecreatedNameIsANewVolumeForCursors) {
  std::unique_ptr<VolumeRegistry> registry = Open();
  std::shared_ptr<Volume> first = Create(registry.get(), "v");
  const ErrorCursor old_cursor = first->SampleErrorCursor();
  first.reset();
  ASSERT_TRUE(registry->Delete("v").ok());
  EXPECT_NE(::access((dir_.path() + "/v.state").c_str(), F_OK), 0) << "Delete left v.state";
  std::shared_ptr<Volume> second = Create(registry.get(), "v");
  // Drawn at random from 2^31 - 1: equal only by a one-in-two-billion chance.
  EXPECT_NE(second->incarnation(), CursorIncarnation(old_cursor));
  EXPECT_EQ(second->FlushSync(old_cursor).status.code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace blockstore
