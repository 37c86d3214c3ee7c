// Linked into a test binary (alwayslink), this runs every FakeIoBackend of its tests over a
// real device on a single-node Ceph the binary starts (tools/ceph): an RBD image per device,
// through RbdBackend (rbd_backing.h). The rule tests keep their controlled completions and
// injected faults; the data, the results of natural completions and the device flushes are
// Ceph's. Where Ceph is not installed every test is skipped, saying why.

#include "gtest/gtest.h"
#include "server/io/testing/ceph_cluster.h"
#include "server/io/testing/fake_io_backend.h"
#include "server/io/testing/rbd_backing.h"

namespace blockstore {
namespace {

// Registered before the environment below: gtest sets environments up in that order.
const CephClusterEnvironment* const ceph = CephClusterEnvironment::Register();

class RbdBackingEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (ceph->skip()) GTEST_SKIP() << ceph->status();
    ASSERT_TRUE(ceph->status().ok()) << ceph->status();
    FakeIoBackend::SetDefaultBacking(RbdBacking(ceph->cluster().ceph_conf()));
    backed_ = true;
  }
  void TearDown() override {
    if (!backed_) return;  // skipped, or the cluster did not start (already reported)
    FakeIoBackend::SetDefaultBacking(nullptr);
    // The tests' devices really were Ceph's (a binary whose tests made no device fails here).
    EXPECT_GT(RbdBackingRequests(), 0u) << "no request reached an RBD image";
  }

 private:
  bool backed_ = false;
};

const ::testing::Environment* const backing =
    ::testing::AddGlobalTestEnvironment(new RbdBackingEnvironment());

}  // namespace
}  // namespace blockstore
