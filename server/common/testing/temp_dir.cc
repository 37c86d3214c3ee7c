#include "server/common/testing/temp_dir.h"

#include <stdlib.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "glog/logging.h"
#include "gtest/gtest.h"

namespace blockstore {
namespace {

// The running test's name as one path component ("Suite.Name", '/' of parameterized tests
// replaced), or "tmp" outside a test.
std::string CurrentTestName() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (info == nullptr) return "tmp";
  return absl::StrReplaceAll(absl::StrCat(info->test_suite_name(), ".", info->name()),
                             {{"/", "_"}});
}

}  // namespace

std::string TestTempRoot() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr && *dir != '\0' ? dir : "/tmp";
}

TempDir::TempDir() : TempDir(CurrentTestName()) {}

TempDir::TempDir(absl::string_view prefix, absl::string_view root) {
  std::string name_template =
      absl::StrCat(root.empty() ? TestTempRoot() : std::string(root), "/", prefix, ".XXXXXX");
  std::vector<char> buffer(name_template.begin(), name_template.end());
  buffer.push_back('\0');
  CHECK(mkdtemp(buffer.data()) != nullptr)
      << "mkdtemp " << name_template << ": " << std::strerror(errno);
  path_ = buffer.data();
}

TempDir::~TempDir() {
  std::error_code error;  // a file a test left busy is no reason to fail the test
  std::filesystem::remove_all(path_, error);
  LOG_IF(WARNING, error) << "removing " << path_ << ": " << error.message();
}

std::string TempDir::File(absl::string_view name) const { return absl::StrCat(path_, "/", name); }

}  // namespace blockstore
