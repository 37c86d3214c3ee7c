#include "server/io/testing/rbd_backing.h"

#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "glog/logging.h"
#include "rbd/librbd.h"
#include "server/io/rbd_backend.h"
#include "server/io/rbd_image.h"

namespace blockstore {
namespace {

std::atomic<uint64_t> requests{0};

// Images of devices that went, by size, ready for the next device of that size: a rule test
// that tries every completion order makes hundreds of devices, and creating, opening and
// locking an image costs about 100 ms on the test cluster; discarding a used one costs a few.
// Never destroyed: the cluster goes with the test binary.
ABSL_CONST_INIT absl::Mutex free_mu(absl::kConstInit);
std::multimap<uint64_t, std::unique_ptr<RbdBackend>>* const free_devices ABSL_GUARDED_BY(free_mu) =
    new std::multimap<uint64_t, std::unique_ptr<RbdBackend>>();

// A device: an RbdBackend over an image of its own, returned to free_devices when it goes.
class RbdDevice : public IoBackend {
 public:
  RbdDevice(uint64_t size_bytes, std::unique_ptr<RbdBackend> backend)
      : size_bytes_(size_bytes), backend_(std::move(backend)) {}

  ~RbdDevice() override {
    // FakeIoBackend waits for every request it forwards, so nothing is in flight here.
    absl::MutexLock lock(&free_mu);
    free_devices->emplace(size_bytes_, std::move(backend_));
  }

  absl::Status Submit(IoRequest* request) override {
    requests.fetch_add(1, std::memory_order_relaxed);
    return backend_->Submit(request);
  }
  void Shutdown() override {}  // The backend stays up for the next device.
  absl::string_view Name() const override { return backend_->Name(); }

 private:
  const uint64_t size_bytes_;
  std::unique_ptr<RbdBackend> backend_;
};

// A used device's image, zeroed again (write_zeroes: a discard may skip what is not whole
// objects), or nullptr when there is none of that size.
std::unique_ptr<RbdBackend> TakeFree(uint64_t size_bytes) {
  std::unique_ptr<RbdBackend> backend;
  {
    absl::MutexLock lock(&free_mu);
    auto it = free_devices->find(size_bytes);
    if (it == free_devices->end()) return nullptr;
    backend = std::move(it->second);
    free_devices->erase(it);
  }
  const int ret = rbd_write_zeroes(backend->image().handle(), 0, size_bytes, 0, 0);
  CHECK_GE(ret, 0) << "zeroing test device " << backend->image().name() << ": errno " << -ret;
  return backend;
}

}  // namespace

uint64_t RbdBackingRequests() { return requests.load(std::memory_order_relaxed); }

FakeIoBackend::BackingFactory RbdBacking(const std::string& ceph_conf, const std::string& pool) {
  RbdPoolOptions options;
  options.ceph_conf = ceph_conf;
  options.pool = pool;
  return [options](uint64_t size_bytes) -> std::unique_ptr<IoBackend> {
    if (std::unique_ptr<RbdBackend> reused = TakeFree(size_bytes)) {
      return std::make_unique<RbdDevice>(size_bytes, std::move(reused));
    }
    // One connection for every device of the binary: connecting costs a monitor round trip.
    static std::shared_ptr<RbdPool> connected = [&options] {
      absl::StatusOr<std::shared_ptr<RbdPool>> pool = RbdPool::Connect(options);
      CHECK(pool.ok()) << pool.status();
      return *std::move(pool);
    }();
    static std::atomic<uint64_t> devices{0};
    const std::string name = absl::StrCat("fake-device-", getpid(), "-", devices++);
    const absl::Status created = connected->CreateImage(name, size_bytes);
    CHECK(created.ok()) << created;
    absl::StatusOr<std::unique_ptr<RbdImage>> image = connected->OpenImage(name);
    CHECK(image.ok()) << image.status();
    std::shared_ptr<RbdImage> shared = *std::move(image);
    const absl::Status locked = shared->AcquireExclusiveLock();
    CHECK(locked.ok()) << locked;
    absl::StatusOr<std::unique_ptr<RbdBackend>> backend =
        RbdBackend::Create(std::move(shared), RbdBackend::Options());
    CHECK(backend.ok()) << backend.status();
    return std::make_unique<RbdDevice>(size_bytes, *std::move(backend));
  };
}

}  // namespace blockstore
