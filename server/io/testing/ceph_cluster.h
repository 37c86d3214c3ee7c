#ifndef BLOCKSTORE_SERVER_IO_TESTING_CEPH_CLUSTER_H_
#define BLOCKSTORE_SERVER_IO_TESTING_CEPH_CLUSTER_H_

// A real, throwaway single-node Ceph cluster for tests of the RBD store (testonly): a monitor and
// one bluestore OSD on 127.0.0.1, started by tools/ceph/start_cluster.sh (a data dependency of
// the test) and SIGKILLed by tools/ceph/stop_cluster.sh. The pool "rbd" is ready. A start takes
// about 10 s, so a test binary starts one cluster for all its tests (CephClusterEnvironment).

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace blockstore {

// One running cluster, stopped when destroyed. The script's watchdog (--owner-pid) also stops it
// when this process exits without doing so (a crash, a timeout), so no daemon outlives the test.
// Not thread-safe; the cluster itself serves any number of clients.
class CephCluster {
 public:
  // Starts a cluster in a new directory under $TEST_TMPDIR (/tmp outside bazel test); admin
  // sockets do not work when that path is too long for them. Unimplemented when Ceph is not
  // installed here (the script exits 77), with the script's reason; Internal for any other failure
  // (the script's stderr, with the daemons' log tails, is in the test's log). `timeout` bounds the
  // start.
  static absl::StatusOr<std::unique_ptr<CephCluster>> Start(
      absl::Duration timeout = absl::Seconds(180));
  ~CephCluster();

  CephCluster(const CephCluster&) = delete;
  CephCluster& operator=(const CephCluster&) = delete;

  // The cluster's ceph.conf: RbdPoolOptions::ceph_conf, or CEPH_CONF for Ceph's tools.
  const std::string& ceph_conf() const { return ceph_conf_; }
  // The directory holding everything (configuration, daemon data, logs in log/).
  const std::string& dir() const { return dir_; }

  // Runs Ceph's command-line tool on this cluster, `ceph --conf <ceph.conf> <args...>`, and
  // returns its stdout; Internal with the exit status when it fails (its stderr is in the test
  // log). E.g. RunCeph({"osd", "set-full-ratio", "0.95"}).
  absl::StatusOr<std::string> RunCeph(const std::vector<std::string>& args,
                                      absl::Duration timeout = absl::Seconds(60)) const;

  // A new replicated pool `name` (8 placement groups, one copy), initialised for RBD, and its
  // removal: a pool of its own per test keeps tests that share the cluster apart.
  absl::Status CreatePool(const std::string& name);
  absl::Status DeletePool(const std::string& name);

  // SIGSTOP / SIGCONT the OSD: while it is stopped the cluster holds no data anyone can reach,
  // as when it is lost or partitioned away, and it picks up where it was when continued.
  absl::Status PauseOsd();
  absl::Status ResumeOsd();

 private:
  CephCluster(std::string dir, std::string ceph_conf)
      : dir_(std::move(dir)), ceph_conf_(std::move(ceph_conf)) {}
  absl::StatusOr<pid_t> OsdPid() const;

  const std::string dir_;
  const std::string ceph_conf_;
};

// A gtest Environment that starts one CephCluster before the binary's first test and stops it
// after the last. Register it at namespace scope in the test file (gtest_main runs the tests):
//
//   const CephClusterEnvironment* const ceph = CephClusterEnvironment::Register();
//   ... in a fixture's SetUp():
//   if (ceph->skip()) GTEST_SKIP() << ceph->status();
//   ASSERT_TRUE(ceph->status().ok()) << ceph->status();
class CephClusterEnvironment : public ::testing::Environment {
 public:
  // Adds a new environment to gtest (which owns it) and returns it.
  static CephClusterEnvironment* Register();

  void SetUp() override;
  void TearDown() override;

  // OK once the cluster runs; before SetUp(), or when it could not start, why not.
  const absl::Status& status() const { return status_; }
  // True when the tests should be skipped rather than failed: Ceph is not installed.
  bool skip() const { return absl::IsUnimplemented(status_); }
  // The running cluster. REQUIRES: status().ok().
  CephCluster& cluster() const { return *cluster_; }

 private:
  CephClusterEnvironment() = default;

  absl::Status status_ = absl::FailedPreconditionError("the Ceph cluster has not started yet");
  std::unique_ptr<CephCluster> cluster_;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_IO_TESTING_CEPH_CLUSTER_H_
