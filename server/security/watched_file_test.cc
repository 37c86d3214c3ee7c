#include "server/security/watched_file.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"

namespace blockstore {
namespace {

void WriteFile(const std::string& path, const std::string& contents) {
  // Written beside and renamed over, as Kubernetes and careful editors do.
  const std::string temp = path + ".tmp";
  std::ofstream(temp, std::ios::binary | std::ios::trunc) << contents;
  ASSERT_EQ(std::rename(temp.c_str(), path.c_str()), 0);
}

// Records what it was asked to apply; refuses contents that start with "bad".
class Recorder {
 public:
  WatchedFile::Apply Apply() {
    return [this](absl::string_view contents) {
      absl::MutexLock lock(&mu_);
      seen_.emplace_back(contents);
      if (absl::StartsWith(contents, "bad")) return absl::InvalidArgumentError("bad contents");
      in_force_ = std::string(contents);
      return absl::OkStatus();
    };
  }
  std::string in_force() {
    absl::MutexLock lock(&mu_);
    return in_force_;
  }
  size_t applications() {
    absl::MutexLock lock(&mu_);
    return seen_.size();
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> seen_;
  std::string in_force_;
};

TEST(WatchedFileTest, AChangedFileIsAppliedAndAnUnchangedOneIsNot) {
  TempDir dir;
  const std::string path = dir.File("policy.txtpb");
  WriteFile(path, "one");
  Recorder recorder;
  absl::StatusOr<std::unique_ptr<WatchedFile>> file =
      WatchedFile::Start("access_policy_file", path, absl::Hours(1), recorder.Apply());
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(recorder.in_force(), "one");
  EXPECT_TRUE((*file)->CheckNow().ok());
  EXPECT_EQ(recorder.applications(), 1u);
  WriteFile(path, "two");
  EXPECT_TRUE((*file)->CheckNow().ok());
  EXPECT_EQ(recorder.in_force(), "two");
  EXPECT_EQ(recorder.applications(), 2u);
}

TEST(WatchedFileTest, RefusedContentsKeepThePreviousConfigurationAndAreTriedOnce) {
  TempDir dir;
  const std::string path = dir.File("tokens");
  WriteFile(path, "good");
  Recorder recorder;
  absl::StatusOr<std::unique_ptr<WatchedFile>> file =
      WatchedFile::Start("access_tokens_file", path, absl::Hours(1), recorder.Apply());
  ASSERT_TRUE(file.ok()) << file.status();
  WriteFile(path, "bad edit");
  EXPECT_FALSE((*file)->CheckNow().ok());
  EXPECT_TRUE((*file)->CheckNow().ok());  // the same bad bytes: not applied (or logged) again
  EXPECT_EQ(recorder.applications(), 2u);
  EXPECT_EQ(recorder.in_force(), "good");
  // A file that vanishes keeps what is in force too.
  ASSERT_EQ(std::remove(path.c_str()), 0);
  EXPECT_FALSE((*file)->CheckNow().ok());
  EXPECT_EQ(recorder.in_force(), "good");
  WriteFile(path, "fixed");
  EXPECT_TRUE((*file)->CheckNow().ok());
  EXPECT_EQ(recorder.in_force(), "fixed");
}

TEST(WatchedFileTest, TheThreadNoticesAChangeByItself) {
  TempDir dir;
  const std::string path = dir.File("policy");
  WriteFile(path, "before");
  Recorder recorder;
  absl::StatusOr<std::unique_ptr<WatchedFile>> file =
      WatchedFile::Start("access_policy_file", path, absl::Milliseconds(20), recorder.Apply());
  ASSERT_TRUE(file.ok()) << file.status();
  WriteFile(path, "after");
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (recorder.in_force() != "after" && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(recorder.in_force(), "after");
}

TEST(WatchedFileTest, StartFailsNamingTheFlagForAMissingOrRefusedFile) {
  TempDir dir;
  Recorder recorder;
  absl::StatusOr<std::unique_ptr<WatchedFile>> missing = WatchedFile::Start(
      "access_policy_file", dir.File("nope"), absl::Seconds(1), recorder.Apply());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StartsWith(missing.status().message(), "access_policy_file: cannot read"))
      << missing.status();
  WriteFile(dir.File("bad"), "bad from the start");
  absl::StatusOr<std::unique_ptr<WatchedFile>> refused =
      WatchedFile::Start("access_tokens_file", dir.File("bad"), absl::Seconds(1), recorder.Apply());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "access_tokens_file: "))
      << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "bad contents"));
}

}  // namespace
}  // namespace blockstore
