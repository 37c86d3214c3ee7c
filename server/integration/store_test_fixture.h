#ifndef BLOCKSTORE_SERVER_INTEGRATION_STORE_TEST_FIXTURE_H_
#define BLOCKSTORE_SERVER_INTEGRATION_STORE_TEST_FIXTURE_H_

// The client tests on both stores (issue 12: "the same client tests as dir mode"): a TEST_P of
// BlockstoredStoreTest runs once with blockstored on a data directory ("dir") and once on the
// RBD store ("rbd") of the single-node Ceph the binary starts (tools/ceph), in a pool of its own
// per test, so tests that use the same volume names stay apart. Including this header registers
// that cluster; where Ceph is not installed the rbd cases are skipped and say why.
//
//   class ServerTest : public BlockstoredStoreTest {};
//   TEST_P(ServerTest, ...) { ... }
//   INSTANTIATE_STORE_TESTS(ServerTest);

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "server/integration/server_process.h"
#include "server/integration/test_server_fixture.h"
#include "server/io/testing/ceph_cluster.h"

namespace blockstore {

inline const CephClusterEnvironment* const kStoreTestCeph = CephClusterEnvironment::Register();

class BlockstoredStoreTest : public BlockstoredTest,
                             public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    if (rbd()) {
      if (kStoreTestCeph->skip()) GTEST_SKIP() << kStoreTestCeph->status();
      ASSERT_TRUE(kStoreTestCeph->status().ok()) << kStoreTestCeph->status();
      static int pools = 0;
      pool_ = absl::StrCat("test-", ++pools);
      const absl::Status created = kStoreTestCeph->cluster().CreatePool(pool_);
      ASSERT_TRUE(created.ok()) << created;
      store_args_ = {"--store=rbd", "--ceph_conf=" + kStoreTestCeph->cluster().ceph_conf(),
                     "--rbd_pool=" + pool_};
    }
    BlockstoredTest::SetUp();
  }

  void TearDown() override {
    client_.reset();
    server_.reset();  // SIGKILL if still running, before its pool goes.
    if (!pool_.empty()) {
      const absl::Status deleted = kStoreTestCeph->cluster().DeletePool(pool_);
      EXPECT_TRUE(deleted.ok()) << deleted;
    }
  }

  bool rbd() const { return GetParam() == "rbd"; }

  // What the store holds: the data directory's entries, or the pool's image names (through
  // Ceph's `rbd ls`, a client of its own).
  std::set<std::string> StoreEntries() {
    std::set<std::string> names;
    if (!rbd()) {
      for (const auto& entry : std::filesystem::directory_iterator(data_dir_)) {
        names.insert(entry.path().filename().string());
      }
      return names;
    }
    absl::StatusOr<CommandResult> listed = RunCommand(
        {"/usr/bin/rbd", "--conf", kStoreTestCeph->cluster().ceph_conf(), "ls", "--pool", pool_},
        "", absl::Seconds(60));
    EXPECT_TRUE(listed.ok() && listed->exit_code == 0)
        << (listed.ok() ? listed->err : listed.status().ToString());
    if (!listed.ok()) return names;
    for (absl::string_view name : absl::StrSplit(listed->out, '\n', absl::SkipEmpty())) {
      names.insert(std::string(name));
    }
    return names;
  }

  std::string pool_;  // rbd: the test's pool
};

#define INSTANTIATE_STORE_TESTS(fixture)                \
  INSTANTIATE_TEST_SUITE_P(                             \
      Stores, fixture, ::testing::Values("dir", "rbd"), \
      [](const ::testing::TestParamInfo<std::string>& info) { return info.param; })

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_INTEGRATION_STORE_TEST_FIXTURE_H_
