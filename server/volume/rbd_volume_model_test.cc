// The randomized volume test through the RBD store's backend, on a real single-node Ceph started
// by the test (tools/ceph): a Volume over RbdBackend (librbd's cache off) takes random
// block-aligned writes (some FUA), reads and Flushes, with a cache small enough that pages are
// evicted and read back from Ceph and a background writeback racing the test. Checked against a
// model of every byte: every read returns the latest acknowledged write; every Flush is OK; and
// after each Flush the image, read by a second Ceph client, holds exactly the model: what Flush
// called durable is in Ceph. (The fake backend's model test adds device faults and power loss,
// which a real cluster cannot be asked for; rbd_backend_test covers a lost, full and fencing
// cluster.)

#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "rbd/librbd.h"
#include "server/io/rbd_backend.h"
#include "server/io/rbd_image.h"
#include "server/io/testing/ceph_cluster.h"
#include "server/volume/volume.h"

namespace blockstore {
namespace {

const CephClusterEnvironment* const ceph = CephClusterEnvironment::Register();

struct Geometry {
  uint32_t page_size_bytes;
  uint32_t block_size_bytes;
};

class RbdVolumeModelTest : public ::testing::TestWithParam<Geometry> {
 protected:
  void SetUp() override {
    if (ceph->skip()) GTEST_SKIP() << ceph->status();
    ASSERT_TRUE(ceph->status().ok()) << ceph->status();
    pool_options_.ceph_conf = ceph->cluster().ceph_conf();
  }
  RbdPoolOptions pool_options_;
};

// The whole image as a second client sees it (the volume's server holds the lock; reads by
// others are allowed).
std::string ReadImage(RbdImage& image, uint64_t size) {
  std::string data(size, '\0');
  const ssize_t read = rbd_read(image.handle(), 0, size, data.data());
  EXPECT_EQ(read, static_cast<ssize_t>(size));
  return data;
}

TEST_P(RbdVolumeModelTest, RandomWritesReadsAndFlushesMatchTheModelAndTheImage) {
  const Geometry geometry = GetParam();
  constexpr uint64_t kPages = 96;
  constexpr int kSteps = 400;
  const uint64_t size = kPages * geometry.page_size_bytes;
  const std::string name =
      absl::StrCat("model-", geometry.page_size_bytes, "-", geometry.block_size_bytes);

  absl::StatusOr<std::shared_ptr<RbdPool>> pool = RbdPool::Connect(pool_options_);
  ASSERT_TRUE(pool.ok()) << pool.status();
  ASSERT_TRUE((*pool)->CreateImage(name, size).ok());
  absl::StatusOr<std::unique_ptr<RbdImage>> opened = (*pool)->OpenImage(name);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::shared_ptr<RbdImage> image = *std::move(opened);
  ASSERT_TRUE(image->AcquireExclusiveLock().ok());
  absl::StatusOr<std::unique_ptr<RbdBackend>> backend =
      RbdBackend::Create(image, RbdBackend::Options());
  ASSERT_TRUE(backend.ok()) << backend.status();

  VolumeConfig config;
  config.name = name;
  config.size_bytes = size;
  config.page_size_bytes = geometry.page_size_bytes;
  config.block_size_bytes = geometry.block_size_bytes;
  VolumeOptions options;
  // A third of the volume fits: reads miss and evicted pages come back from Ceph.
  options.cache_bytes = 32 * geometry.page_size_bytes + (256 << 10);
  options.dirty_limit_bytes = 16 * geometry.page_size_bytes;
  options.dirty_background_bytes = 8 * geometry.page_size_bytes;
  options.dirty_expire = absl::Milliseconds(50);
  options.flusher_interval = absl::Milliseconds(20);
  options.prefault_cache = false;
  absl::StatusOr<std::unique_ptr<Volume>> volume =
      OpenVolumeOnDeviceForTest(/*device_fd=*/-1, config, options, backend->get());
  ASSERT_TRUE(volume.ok()) << volume.status();

  absl::StatusOr<std::shared_ptr<RbdPool>> reader_pool = RbdPool::Connect(pool_options_);
  ASSERT_TRUE(reader_pool.ok()) << reader_pool.status();
  absl::StatusOr<std::unique_ptr<RbdImage>> reader = (*reader_pool)->OpenImage(name);
  ASSERT_TRUE(reader.ok()) << reader.status();

  std::mt19937_64 rng(geometry.page_size_bytes * 31 + geometry.block_size_bytes);
  std::string model(size, '\0');
  const uint32_t blocks_per_page = geometry.page_size_bytes / geometry.block_size_bytes;
  int writes = 0, reads = 0, flushes = 0;
  for (int step = 0; step < kSteps; ++step) {
    const uint64_t page = rng() % kPages;
    const uint64_t page_start = page * geometry.page_size_bytes;
    const int op = static_cast<int>(rng() % 10);
    if (op < 6) {
      const uint32_t first = rng() % blocks_per_page;
      const uint32_t count = 1 + rng() % (blocks_per_page - first);
      std::string data(count * geometry.block_size_bytes, '\0');
      for (char& c : data) c = static_cast<char>(rng());
      const bool fua = rng() % 8 == 0;
      const absl::Status written = (*volume)->WriteSync(page, first * geometry.block_size_bytes,
                                                        data, fua, absl::Now() + absl::Seconds(60));
      ASSERT_TRUE(written.ok()) << "step " << step << ": " << written;
      model.replace(page_start + first * geometry.block_size_bytes, data.size(), data);
      ++writes;
      if (fua) {
        // Durable on return: the image already holds the page.
        std::string durable(geometry.page_size_bytes, '\0');
        ASSERT_EQ(rbd_read((*reader)->handle(), page_start, durable.size(), durable.data()),
                  static_cast<ssize_t>(durable.size()));
        ASSERT_EQ(durable, model.substr(page_start, geometry.page_size_bytes))
            << "step " << step << ": a FUA write of page " << page << " is not in Ceph";
      }
    } else if (op < 9) {
      absl::StatusOr<std::string> read = (*volume)->ReadSync(page);
      ASSERT_TRUE(read.ok()) << "step " << step << ": " << read.status();
      ASSERT_EQ(*read, model.substr(page_start, geometry.page_size_bytes))
          << "step " << step << ": page " << page << " is not the latest write";
      ++reads;
    } else {
      const FlushSummary summary = (*volume)->FlushSync();
      ASSERT_TRUE(summary.status.ok()) << "step " << step << ": " << summary.status;
      ASSERT_EQ(ReadImage(**reader, size), model)
          << "step " << step << ": the image is not what the Flush called durable";
      ++flushes;
    }
  }
  const FlushSummary last = (*volume)->FlushSync();
  ASSERT_TRUE(last.status.ok()) << last.status;
  EXPECT_EQ(ReadImage(**reader, size), model);
  const VolumeCounters& counters = (*volume)->counters();
  EXPECT_GT(counters.cache_evictions.load(), 0u) << "no page was evicted: the cache is too big";
  std::printf("%s: %d writes, %d reads, %d flushes, %llu evictions\n", name.c_str(), writes, reads,
              flushes, static_cast<unsigned long long>(counters.cache_evictions.load()));
  (*volume)->Close();
  (*backend)->Shutdown();
  reader->reset();
  backend->reset();
  image.reset();
  EXPECT_TRUE((*pool)->RemoveImage(name).ok());
}

INSTANTIATE_TEST_SUITE_P(Geometries, RbdVolumeModelTest,
                         ::testing::Values(Geometry{16384, 4096}, Geometry{4096, 1024}),
                         [](const ::testing::TestParamInfo<Geometry>& info) {
                           return absl::StrCat("page", info.param.page_size_bytes, "block",
                                               info.param.block_size_bytes);
                         });

}  // namespace
}  // namespace blockstore
