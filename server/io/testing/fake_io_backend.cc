#include "server/io/testing/fake_io_backend.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "server/common/annotated_mutex_lock.h"

namespace blockstore {
namespace {

// The fake whose Complete() calls run on this thread right now, if any.
thread_local const FakeIoBackend* tls_completing = nullptr;

FakeIoBackend::BackingFactory& DefaultBacking() {
  static auto* factory = new FakeIoBackend::BackingFactory();
  return *factory;
}

// One request to a real device, waited for.
class SyncRequest : public IoRequest {
 public:
  SyncRequest(IoOp op_in, uint64_t offset, char* data, size_t len) : vec_{data, len} {
    op = op_in;
    offset_bytes = offset;
    if (op != IoOp::kFdatasync) {
      iov = &vec_;
      iov_count = 1;
    }
  }
  void Complete(int32_t res) override {
    res_ = res;
    done_.Notify();
  }
  // Submits to `backend` and waits for the result; an error if it refuses.
  int32_t Run(IoBackend& backend) {
    const absl::Status submitted = backend.Submit(this);
    if (!submitted.ok()) return -EIO;
    done_.WaitForNotification();
    return res_;
  }

 private:
  iovec vec_;
  int32_t res_ = 0;
  absl::Notification done_;
};

}  // namespace

void FakeIoBackend::SetDefaultBacking(BackingFactory factory) {
  DefaultBacking() = std::move(factory);
}

bool FakeIoBackend::HasDefaultBacking() { return static_cast<bool>(DefaultBacking()); }

void FakeIoBackend::Image::Write(uint64_t offset, const char* data, size_t len) {
  while (len > 0) {
    const uint64_t index = offset / kChunkBytes;
    const size_t in_chunk = offset % kChunkBytes;
    const size_t n = std::min<size_t>(len, kChunkBytes - in_chunk);
    std::string& chunk = chunks_[index];
    if (chunk.empty()) chunk.assign(kChunkBytes, '\0');
    std::memcpy(&chunk[in_chunk], data, n);
    offset += n;
    data += n;
    len -= n;
  }
}

void FakeIoBackend::Image::Read(uint64_t offset, char* out, size_t len) const {
  while (len > 0) {
    const uint64_t index = offset / kChunkBytes;
    const size_t in_chunk = offset % kChunkBytes;
    const size_t n = std::min<size_t>(len, kChunkBytes - in_chunk);
    auto it = chunks_.find(index);
    if (it == chunks_.end()) {
      std::memset(out, 0, n);
    } else {
      std::memcpy(out, it->second.data() + in_chunk, n);
    }
    offset += n;
    out += n;
    len -= n;
  }
}

FakeIoBackend::FakeIoBackend() : FakeIoBackend(Options()) {}

FakeIoBackend::FakeIoBackend(const Options& options)
    : options_(options), backing_(options.backing ? options.backing : DefaultBacking()) {
  CHECK(!(options_.complete_in_submit && options_.auto_complete))
      << "FakeIoBackend: choose complete_in_submit or auto_complete, not both";
  if (options_.auto_complete) auto_thread_ = std::thread([this] { AutoCompleteLoop(); });
}

FakeIoBackend::~FakeIoBackend() { Shutdown(); }

int FakeIoBackend::AddDevice(uint64_t size_bytes) {
  AnnotatedMutexLock lock(&mu_);
  const int fd = next_fd_++;
  auto device = std::make_unique<Device>();
  device->size_bytes = size_bytes;
  if (backing_) {
    device->backing = backing_(size_bytes);
    CHECK(device->backing != nullptr) << "FakeIoBackend: the backing factory gave no device";
  }
  devices_[fd] = std::move(device);
  return fd;
}

FakeIoBackend::Device& FakeIoBackend::DeviceLocked(int fd) {
  auto it = devices_.find(fd);
  CHECK(it != devices_.end()) << "FakeIoBackend: fd " << fd << " is not a device";
  return *it->second;
}

void FakeIoBackend::SetContents(int fd, uint64_t offset_bytes, absl::string_view bytes) {
  AnnotatedMutexLock lock(&mu_);
  Device& device = DeviceLocked(fd);
  CHECK_LE(offset_bytes + bytes.size(), device.size_bytes);
  device.volatile_image.Write(offset_bytes, bytes.data(), bytes.size());
  device.durable_image.Write(offset_bytes, bytes.data(), bytes.size());
  if (device.backing != nullptr) {
    std::string copy(bytes);
    SyncRequest write(IoOp::kWritev, offset_bytes, copy.data(), copy.size());
    CHECK_EQ(write.Run(*device.backing), static_cast<int32_t>(copy.size()))
        << "FakeIoBackend::SetContents: the real device refused the write";
  }
}

absl::Status FakeIoBackend::Submit(IoRequest* request) {
  CHECK(request != nullptr);
  PendingIo io;
  io.request = request;
  io.op = request->op;
  io.fd = request->fd;
  io.offset_bytes = request->offset_bytes;
  if (request->op != IoOp::kFdatasync) io.bytes = IovecBytes(request->iov, request->iov_count);
  if (request->op == IoOp::kWritev) {
    // Captured now, as a DMA would start now: the writer may reuse its page at once.
    io.write_data.reserve(io.bytes);
    for (int i = 0; i < request->iov_count; ++i) {
      io.write_data.append(static_cast<const char*>(request->iov[i].iov_base),
                           request->iov[i].iov_len);
    }
  }
  int32_t res = 0;
  {
    AnnotatedMutexLock lock(&mu_);
    if (shutting_down_ && tls_completing != this) {
      return absl::UnavailableError("FakeIoBackend is shut down");
    }
    io.crash_epoch = crash_epoch_;
    // Before the request can be completed (another thread may do so once it is pending).
    if (io.op == IoOp::kWritev && options_.take_write_data_at_submit) request->DataTaken();
    if (io.op == IoOp::kFdatasync && options_.track_unsynced_writes) {
      auto it = devices_.find(io.fd);
      if (it != devices_.end()) io.sync_covers_before = it->second->next_write_seq;
    }
    ++submit_count_;
    if (io.op == IoOp::kFdatasync) ++fdatasync_count_;
    if (!options_.complete_in_submit) {
      pending_.push_back(std::move(io));
      pending_changed_.Signal();
      return absl::OkStatus();
    }
    res = NaturalResultLocked(io);
    auto it = devices_.find(io.fd);
    if (it != devices_.end() && it->second->backing != nullptr) {
      res = ForwardLocked(*it->second, io, res);
    }
    ApplyLocked(io, res);
    ++completed_count_;
  }
  // complete_in_submit: the deliberate contract break (see Options).
  RunComplete(request, res);
  return absl::OkStatus();
}

int32_t FakeIoBackend::NaturalResultLocked(const PendingIo& io) {
  auto it = devices_.find(io.fd);
  if (it == devices_.end()) return -EBADF;
  if (io.op == IoOp::kFdatasync) return 0;
  const uint64_t size = it->second->size_bytes;
  const uint64_t room = io.offset_bytes >= size ? 0 : size - io.offset_bytes;
  if (io.op == IoOp::kWritev && room == 0 && io.bytes > 0) return -ENOSPC;
  return static_cast<int32_t>(std::min(io.bytes, room));
}

void FakeIoBackend::ApplyLocked(const PendingIo& io, int32_t res) {
  if (io.op != IoOp::kFdatasync) {
    CHECK_LE(res, static_cast<int64_t>(io.bytes))
        << "FakeIoBackend: result larger than the request";
  }
  if (res < 0) return;
  // Writes and syncs from before a Crash() belong to a device state that no longer exists.
  if (io.op != IoOp::kReadv && io.crash_epoch != crash_epoch_) return;
  auto it = devices_.find(io.fd);
  if (it == devices_.end()) return;
  Device& device = *it->second;
  // A result the test chose may exceed the device; only what lies inside it changes.
  const uint64_t room =
      io.offset_bytes >= device.size_bytes ? 0 : device.size_bytes - io.offset_bytes;
  const size_t len = static_cast<size_t>(std::min<uint64_t>(static_cast<uint64_t>(res), room));
  switch (io.op) {
    case IoOp::kWritev:
      device.volatile_image.Write(io.offset_bytes, io.write_data.data(), len);
      if (options_.track_unsynced_writes && len > 0) {
        device.unsynced.push_back(
            UnsyncedWrite{device.next_write_seq++, io.offset_bytes, io.write_data.substr(0, len)});
      }
      break;
    case IoOp::kReadv: {
      // The submitter keeps the iovecs valid until Complete() returns (IoRequest contract).
      uint64_t offset = io.offset_bytes;
      size_t left = len;
      for (int i = 0; i < io.request->iov_count && left > 0; ++i) {
        const size_t n = std::min(left, io.request->iov[i].iov_len);
        device.volatile_image.Read(offset, static_cast<char*>(io.request->iov[i].iov_base), n);
        offset += n;
        left -= n;
      }
      break;
    }
    case IoOp::kFdatasync:
      if (!options_.track_unsynced_writes) {
        device.durable_image = device.volatile_image;
        break;
      }
      // Only what had completed when the sync was submitted; the log is in completion order,
      // so that is a prefix of it.
      while (!device.unsynced.empty() && device.unsynced.front().seq < io.sync_covers_before) {
        const UnsyncedWrite& write = device.unsynced.front();
        device.durable_image.Write(write.offset_bytes, write.data.data(), write.data.size());
        device.unsynced.pop_front();
      }
      break;
  }
}

void FakeIoBackend::RunComplete(IoRequest* request, int32_t res) {
  const FakeIoBackend* const outer = tls_completing;
  tls_completing = this;
  request->Complete(res);
  tls_completing = outer;
}

bool FakeIoBackend::CompleteOne(const std::function<size_t(size_t)>& pick, int32_t res) {
  PendingIo io;
  {
    AnnotatedMutexLock lock(&mu_);
    if (pending_.empty()) return false;
    const size_t i = pick(pending_.size());
    CHECK_LT(i, pending_.size());
    io = std::move(pending_[i]);
    pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
    if (res == kNaturalResult) res = NaturalResultLocked(io);
    auto it = devices_.find(io.fd);
    if (it != devices_.end() && it->second->backing != nullptr && io.crash_epoch == crash_epoch_) {
      res = ForwardLocked(*it->second, io, res);
    }
    ApplyLocked(io, res);
    ++completed_count_;
  }
  RunComplete(io.request, res);
  return true;
}

int32_t FakeIoBackend::ForwardLocked(Device& device, const PendingIo& io, int32_t res) {
  if (res < 0) return res;  // a chosen error: nothing reaches the device
  if (io.op == IoOp::kFdatasync) {
    SyncRequest sync(IoOp::kFdatasync, 0, nullptr, 0);
    const int32_t real = sync.Run(*device.backing);
    return real < 0 ? real : res;
  }
  // What the model applies: the first `res` bytes, inside the device.
  const uint64_t room =
      io.offset_bytes >= device.size_bytes ? 0 : device.size_bytes - io.offset_bytes;
  const size_t len = static_cast<size_t>(std::min<uint64_t>(static_cast<uint64_t>(res), room));
  if (len == 0) return res;
  std::string data = io.op == IoOp::kWritev ? io.write_data.substr(0, len) : std::string(len, '\0');
  SyncRequest request(io.op, io.offset_bytes, data.data(), len);
  const int32_t real = request.Run(*device.backing);
  if (real < 0) return real;
  CHECK_EQ(real, static_cast<int32_t>(len))
      << "FakeIoBackend: the real device " << (io.op == IoOp::kWritev ? "wrote" : "read")
      << " a short count at offset " << io.offset_bytes;
  if (io.op == IoOp::kReadv) {
    std::string model(len, '\0');
    device.volatile_image.Read(io.offset_bytes, model.data(), len);
    CHECK(data == model) << "FakeIoBackend: the real device returned other bytes than were "
                            "written at offset "
                         << io.offset_bytes << " (" << len << " bytes)";
  }
  return res;
}

const FakeIoBackend::PendingIo& FakeIoBackend::PendingLocked(size_t i) {
  CHECK_LT(i, pending_.size()) << "FakeIoBackend: no pending request " << i;
  return pending_[i];
}

size_t FakeIoBackend::PendingCount() {
  AnnotatedMutexLock lock(&mu_);
  return pending_.size();
}

const IoRequest* FakeIoBackend::Pending(size_t i) {
  AnnotatedMutexLock lock(&mu_);
  return PendingLocked(i).request;
}

IoOp FakeIoBackend::PendingOp(size_t i) {
  AnnotatedMutexLock lock(&mu_);
  return PendingLocked(i).op;
}

int FakeIoBackend::PendingFd(size_t i) {
  AnnotatedMutexLock lock(&mu_);
  return PendingLocked(i).fd;
}

uint64_t FakeIoBackend::PendingOffset(size_t i) {
  AnnotatedMutexLock lock(&mu_);
  return PendingLocked(i).offset_bytes;
}

uint64_t FakeIoBackend::PendingBytes(size_t i) {
  AnnotatedMutexLock lock(&mu_);
  return PendingLocked(i).bytes;
}

void FakeIoBackend::CompleteNext() { CompleteNext(kNaturalResult); }

void FakeIoBackend::CompleteNext(int32_t res) {
  CHECK(CompleteOne([](size_t) { return size_t{0}; }, res))
      << "FakeIoBackend::CompleteNext: nothing pending";
}

void FakeIoBackend::CompleteAt(size_t i, int32_t res) {
  CHECK(CompleteOne([i](size_t) { return i; }, res))
      << "FakeIoBackend::CompleteAt: nothing pending";
}

void FakeIoBackend::CompleteAll() {
  for (uint64_t n = 0; CompleteOne([](size_t) { return size_t{0}; }, kNaturalResult); ++n) {
    CHECK_LT(n, kCompleteAllMax) << "FakeIoBackend::CompleteAll: requests keep resubmitting";
  }
}

void FakeIoBackend::CompleteInRandomOrder(uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&rng](size_t count) { return static_cast<size_t>(rng() % count); };
  for (uint64_t n = 0; CompleteOne(pick, kNaturalResult); ++n) {
    CHECK_LT(n, kCompleteAllMax) << "FakeIoBackend::CompleteInRandomOrder: requests keep "
                                    "resubmitting";
  }
}

void FakeIoBackend::AutoCompleteLoop() {
  std::mt19937_64 rng(options_.seed);
  const int64_t delay_max_ns = absl::ToInt64Nanoseconds(options_.auto_complete_delay_max);
  for (;;) {
    {
      AnnotatedMutexLock lock(&mu_);
      while (pending_.empty() && !shutting_down_) lock.Wait(&pending_changed_);
      if (pending_.empty()) return;  // Shutting down with nothing left.
    }
    if (delay_max_ns > 0) {
      absl::SleepFor(absl::Nanoseconds(static_cast<int64_t>(rng() % (delay_max_ns + 1))));
    }
    CompleteOne([&rng](size_t count) { return static_cast<size_t>(rng() % count); },
                kNaturalResult);
  }
}

void FakeIoBackend::Shutdown() {
  CHECK(tls_completing != this) << "FakeIoBackend::Shutdown() called from inside Complete()";
  std::call_once(shutdown_once_, [this] {
    {
      AnnotatedMutexLock lock(&mu_);
      shutting_down_ = true;
      pending_changed_.SignalAll();
    }
    if (auto_thread_.joinable()) {
      auto_thread_.join();
    } else {
      CompleteAll();
    }
  });
}

void FakeIoBackend::Crash() {
  CrashOptions options;
  options.reach_percent = 0;
  Crash(options);
}

FakeIoBackend::CrashReport FakeIoBackend::Crash(const CrashOptions& options) {
  CHECK(!backing_) << "FakeIoBackend::Crash: a real device cannot lose its cache on demand";
  CHECK_GT(options.block_bytes, 0u);
  CHECK_LE(options.reach_percent, 100u);
  CHECK(options.reach_percent == 0 || options_.track_unsynced_writes)
      << "FakeIoBackend::Crash: tearing needs Options::track_unsynced_writes";
  std::mt19937_64 rng(options.seed);
  CrashReport report;
  AnnotatedMutexLock lock(&mu_);
  // Each piece of a write that lies inside one aligned block reached the durable image or not.
  auto tear = [&](Device& device, uint64_t offset, absl::string_view data) {
    size_t done = 0;
    while (done < data.size()) {
      const uint64_t at = offset + done;
      const size_t n = static_cast<size_t>(
          std::min<uint64_t>(data.size() - done, options.block_bytes - at % options.block_bytes));
      if (rng() % 100 < options.reach_percent) {
        device.durable_image.Write(at, data.data() + done, n);
        ++report.pieces_reached;
      } else {
        ++report.pieces_lost;
      }
      done += n;
    }
  };
  // By fd, so that a seed tears the same way whatever the hash map's order.
  std::vector<int> fds;
  for (const auto& entry : devices_) fds.push_back(entry.first);
  std::sort(fds.begin(), fds.end());
  for (int fd : fds) {
    Device& device = *devices_[fd];
    for (const UnsyncedWrite& write : device.unsynced) tear(device, write.offset_bytes, write.data);
    if (options.in_flight_writes_too) {
      for (const PendingIo& io : pending_) {
        // A write pending from before an earlier crash belongs to a device that is gone.
        if (io.fd != fd || io.op != IoOp::kWritev || io.crash_epoch != crash_epoch_) continue;
        if (io.offset_bytes >= device.size_bytes) continue;
        const size_t len = static_cast<size_t>(
            std::min<uint64_t>(io.write_data.size(), device.size_bytes - io.offset_bytes));
        tear(device, io.offset_bytes, absl::string_view(io.write_data.data(), len));
      }
    }
    device.unsynced.clear();
    device.volatile_image = device.durable_image;
  }
  ++crash_epoch_;
  return report;
}

std::string FakeIoBackend::ReadVolatile(int fd, uint64_t offset_bytes, size_t len) {
  AnnotatedMutexLock lock(&mu_);
  const Device& device = DeviceLocked(fd);
  CHECK_LE(offset_bytes + len, device.size_bytes);
  std::string out(len, '\0');
  device.volatile_image.Read(offset_bytes, out.data(), len);
  if (device.backing != nullptr && len > 0) {
    std::string real(len, '\0');
    SyncRequest read(IoOp::kReadv, offset_bytes, real.data(), len);
    CHECK_EQ(read.Run(*device.backing), static_cast<int32_t>(len));
    CHECK(real == out) << "FakeIoBackend::ReadVolatile: the real device holds other bytes than "
                          "were written at offset "
                       << offset_bytes << " (" << len << " bytes)";
  }
  return out;
}

std::string FakeIoBackend::ReadDurable(int fd, uint64_t offset_bytes, size_t len) {
  AnnotatedMutexLock lock(&mu_);
  const Device& device = DeviceLocked(fd);
  CHECK_LE(offset_bytes + len, device.size_bytes);
  std::string out(len, '\0');
  device.durable_image.Read(offset_bytes, out.data(), len);
  return out;
}

uint64_t FakeIoBackend::SubmitCount() {
  AnnotatedMutexLock lock(&mu_);
  return submit_count_;
}

uint64_t FakeIoBackend::FdatasyncCount() {
  AnnotatedMutexLock lock(&mu_);
  return fdatasync_count_;
}

uint64_t FakeIoBackend::CompletedCount() {
  AnnotatedMutexLock lock(&mu_);
  return completed_count_;
}

size_t FakeIoBackend::UnsyncedWriteCount(int fd) {
  CHECK(options_.track_unsynced_writes)
      << "FakeIoBackend::UnsyncedWriteCount needs Options::track_unsynced_writes";
  AnnotatedMutexLock lock(&mu_);
  return DeviceLocked(fd).unsynced.size();
}

}  // namespace blockstore
