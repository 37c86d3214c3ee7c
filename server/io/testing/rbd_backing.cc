#include "server/io/testing/rbd_backing.h"

#include <unistd.h>

#include <atomic>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "server/io/rbd_backend.h"
#include "server/io/rbd_image.h"

namespace blockstore {
namespace {

std::atomic<uint64_t> requests{0};

// An RbdBackend that removes its image when it goes.
class RbdDevice : public IoBackend {
 public:
  RbdDevice(std::shared_ptr<RbdPool> pool, std::string name, std::unique_ptr<RbdBackend> backend)
      : pool_(std::move(pool)), name_(std::move(name)), backend_(std::move(backend)) {}

  ~RbdDevice() override {
    backend_.reset();  // shuts down and closes the image: librbd removes only closed images
    const absl::Status removed = pool_->RemoveImage(name_);
    if (!removed.ok()) LOG(WARNING) << "test device " << name_ << " stays: " << removed;
  }

  absl::Status Submit(IoRequest* request) override {
    requests.fetch_add(1, std::memory_order_relaxed);
    return backend_->Submit(request);
  }
  void Shutdown() override { backend_->Shutdown(); }
  absl::string_view Name() const override { return backend_->Name(); }

 private:
  const std::shared_ptr<RbdPool> pool_;
  const std::string name_;
  std::unique_ptr<RbdBackend> backend_;
};

}  // namespace

uint64_t RbdBackingRequests() { return requests.load(std::memory_order_relaxed); }

FakeIoBackend::BackingFactory RbdBacking(const std::string& ceph_conf, const std::string& pool) {
  RbdPoolOptions options;
  options.ceph_conf = ceph_conf;
  options.pool = pool;
  return [options](uint64_t size_bytes) -> std::unique_ptr<IoBackend> {
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
    return std::make_unique<RbdDevice>(connected, name, *std::move(backend));
  };
}

}  // namespace blockstore
