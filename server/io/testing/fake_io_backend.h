#ifndef BLOCKSTORE_SERVER_IO_TESTING_FAKE_IO_BACKEND_H_
#define BLOCKSTORE_SERVER_IO_TESTING_FAKE_IO_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/io/io_backend.h"
#include "server/io/io_request.h"

namespace blockstore {

// An in-memory device for tests. Each device (AddDevice) has two images: "volatile", what the
// device's cache holds, and "durable", what survives Crash() (leveldb's FaultInjectionTestEnv,
// TigerBeetle's testing/storage.zig). Completions are released by the test, in the order it
// chooses (CompleteNext, CompleteAt, CompleteAll, CompleteInRandomOrder), or, in auto_complete
// mode, by the fake's own thread in a seeded random order.
//
// Device semantics (what Complete() sees and what reaches the images):
// - kWritev: the bytes are copied at Submit() (a DMA start: the writer may touch its page
//   afterwards), and applied to the volatile image only at completion, and only as far as the
//   result says: res == bytes applies all, 0 <= res < bytes the first res bytes, res < 0 none.
// - kReadv: the iovecs are filled from the volatile image at completion (the first res bytes).
// - kFdatasync: a result >= 0 copies the volatile image to the durable one (with
//   Options::track_unsynced_writes: only what was completed when it was submitted).
// - Natural results are a block device's: a write past the end is cut at the end (-ENOSPC if
//   it starts there), a read past the end is short (0 at the end), an unknown fd is -EBADF.
//
// A real device behind each device (Options::backing, or SetDefaultBacking for a whole test
// binary): the rule tests, unchanged, through a real backend (RbdBackend on a test cluster). The
// test still chooses when each request completes; at that moment the request is performed on
// the real device, synchronously and in the order the test chose, and Complete() sees the real
// device's error if it gives one. Of a write, what the model applies (all of it, or the prefix a
// chosen short result says) goes to the real device; a chosen error sends nothing. A read
// returns the model's bytes, which must equal what the real device returns (CHECK: a real device
// that lost or garbled a write fails the test). A sync is the real device's flush. Crash() is
// refused: a real device cannot lose its cache on demand.
//
// Thread-safe. Complete() runs on the thread that calls a Complete* method (or on the auto
// thread), never inside Submit() unless Options::complete_in_submit, and never with the fake's
// lock held, so it may resubmit.
class FakeIoBackend : public IoBackend {
 public:
  // Makes the real device behind a new device of `size_bytes`: a backend whose requests'
  // fd is ignored (one device per backend). Never null.
  using BackingFactory = std::function<std::unique_ptr<IoBackend>(uint64_t size_bytes)>;

  // The factory of every FakeIoBackend made afterwards whose Options::backing is empty: a test
  // binary that runs the fake's tests through a real device sets it before the tests run.
  static void SetDefaultBacking(BackingFactory factory);
  // Whether SetDefaultBacking set one: what a test that cannot run over a real device asks.
  static bool HasDefaultBacking();

  struct Options {
    // Completes each request with its natural result inside Submit(), on the submitting thread.
    // This breaks the IoBackend contract on purpose: it is the worst case for rule R6 of
    // docs/writeback-rules.md (a bio finishing while the page is still being submitted),
    // and the one place in the tree where a completion runs inside Submit(). Tests only.
    bool complete_in_submit = false;
    // Tells each write, inside Submit(), that its bytes are taken (IoRequest::DataTaken), as
    // RbdBackend does: the fake copies them there anyway. Off, the fake is a device that reads
    // the pages until the write completes, as io_uring with O_DIRECT is.
    bool take_write_data_at_submit = false;
    // A thread of the fake completes pending requests in a seeded random order after random
    // delays in [0, auto_complete_delay_max], with natural results: for stress and TSan tests.
    // It stops in Shutdown(), after completing everything pending.
    bool auto_complete = false;
    uint64_t seed = 1;
    absl::Duration auto_complete_delay_max = absl::Microseconds(200);
    // Keeps, per device, a copy of each write completed since an fdatasync covered it, as the
    // device's volatile write cache holds them. Two things change with it:
    // - kFdatasync covers exactly the writes completed when it was submitted (POSIX promises no
    //   more: a write that completes while the sync is in flight stays unsynced). Without it the
    //   whole volatile image becomes durable when the sync completes, which would hide an engine
    //   that issues its device flush before the writes it must cover have completed.
    // - Crash(const CrashOptions&) can tear: each block of those writes reached the durable
    //   image or not.
    // Costs a copy of every write between syncs: for power-loss tests.
    bool track_unsynced_writes = false;
    // A real device behind each device (see the class comment); empty: SetDefaultBacking's,
    // if any, else none.
    BackingFactory backing;
  };

  // A power loss (Crash). What was durable stays. Each write completed since the last fdatasync
  // that covered it (in completion order; optionally also each write still in flight, in
  // submission order) is cut into the pieces that lie in one aligned block of block_bytes, and
  // each piece independently reached the durable image or not (seeded): a later write to a
  // block that reached it wins over an earlier one, one that did not leaves the earlier one.
  struct CrashOptions {
    uint64_t seed = 1;
    // The device's atomic write unit: nothing is torn inside one aligned block of this size. A
    // test of a volume passes the volume's block size (a block that tore inside would hold
    // bytes nobody wrote there, which no engine can prevent without checksums).
    uint32_t block_bytes = 512;
    // Chance in percent that one piece reached the durable image. 0: every unsynced write is
    // lost (Crash()); 100: every completed one survives. Above 0 it REQUIRES
    // Options::track_unsynced_writes.
    uint32_t reach_percent = 50;
    // Pieces of writes submitted but not completed get the same chance (the device had begun
    // them). Their completions, which still come, change no image.
    bool in_flight_writes_too = false;
  };
  // What a Crash(const CrashOptions&) did with the pieces it considered.
  struct CrashReport {
    uint64_t pieces_reached = 0;
    uint64_t pieces_lost = 0;
  };

  // As a result argument: the request's natural result (see the class comment).
  static constexpr int32_t kNaturalResult = INT32_MIN;
  // AddDevice() hands out fds from here up.
  static constexpr int kFirstFd = 1000;

  FakeIoBackend();
  explicit FakeIoBackend(const Options& options);
  // Calls Shutdown(), which completes whatever is still pending: keep those requests alive.
  ~FakeIoBackend() override;

  FakeIoBackend(const FakeIoBackend&) = delete;
  FakeIoBackend& operator=(const FakeIoBackend&) = delete;

  // Adds a zero-filled device and returns its fd token (kFirstFd, kFirstFd + 1, ...).
  int AddDevice(uint64_t size_bytes) ABSL_LOCKS_EXCLUDED(mu_);
  // Writes `bytes` to both images, as if written and synced earlier (for read tests).
  void SetContents(int fd, uint64_t offset_bytes, absl::string_view bytes) ABSL_LOCKS_EXCLUDED(mu_);

  // Records the request (and, for kWritev, its bytes). Never blocks on a bound: the pending
  // list has none of its own, the test's request count bounds it. (With a real device behind
  // the fake it may wait for a completion's request in progress there, which holds the lock.) After
  // Shutdown(): Unavailable, except from inside a Complete() this fake is running (a resubmission
  // while Shutdown() drains).
  absl::Status Submit(IoRequest* request) override ABSL_LOCKS_EXCLUDED(mu_);
  // Refuses new requests, completes every pending one with its natural result (on this thread,
  // or on the auto thread, which is then joined). Idempotent.
  // REQUIRES: not called from inside a Complete() this fake is running.
  void Shutdown() override ABSL_LOCKS_EXCLUDED(mu_);
  absl::string_view Name() const override { return "fake"; }

  // Pending requests, oldest first. Index i is valid until the next completion or submission.
  size_t PendingCount() ABSL_LOCKS_EXCLUDED(mu_);
  const IoRequest* Pending(size_t i) ABSL_LOCKS_EXCLUDED(mu_);
  IoOp PendingOp(size_t i) ABSL_LOCKS_EXCLUDED(mu_);
  int PendingFd(size_t i) ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t PendingOffset(size_t i) ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t PendingBytes(size_t i) ABSL_LOCKS_EXCLUDED(mu_);

  // Completes the oldest pending request with its natural result, or with `res`.
  // REQUIRES: PendingCount() > 0.
  void CompleteNext() ABSL_LOCKS_EXCLUDED(mu_);
  void CompleteNext(int32_t res) ABSL_LOCKS_EXCLUDED(mu_);
  // Completes pending request i with `res`, or its natural result for kNaturalResult.
  // REQUIRES: i < PendingCount(); for reads and writes, res <= PendingBytes(i).
  void CompleteAt(size_t i, int32_t res = kNaturalResult) ABSL_LOCKS_EXCLUDED(mu_);
  // Completes oldest first, with natural results, until nothing is pending (including what
  // the completions resubmit). Bounded: CHECK-fails after kCompleteAllMax completions.
  void CompleteAll() ABSL_LOCKS_EXCLUDED(mu_);
  // As CompleteAll(), in an order drawn from `seed`.
  void CompleteInRandomOrder(uint64_t seed) ABSL_LOCKS_EXCLUDED(mu_);
  static constexpr uint64_t kCompleteAllMax = 10'000'000;

  // Power loss: every device's volatile image becomes its durable image, so every write not
  // covered by a successful fdatasync is lost. Requests pending now belong to the world before
  // the crash: they still complete (so their owners can finish), but their writes and syncs no
  // longer change any image.
  void Crash() ABSL_LOCKS_EXCLUDED(mu_);
  // The same, except that unsynced writes may reach the durable image, whole or torn at block
  // granularity, as `options` says; then every volatile image becomes the durable one.
  CrashReport Crash(const CrashOptions& options) ABSL_LOCKS_EXCLUDED(mu_);

  // REQUIRES: `fd` came from AddDevice() and the range lies inside the device.
  std::string ReadVolatile(int fd, uint64_t offset_bytes, size_t len) ABSL_LOCKS_EXCLUDED(mu_);
  std::string ReadDurable(int fd, uint64_t offset_bytes, size_t len) ABSL_LOCKS_EXCLUDED(mu_);

  uint64_t SubmitCount() ABSL_LOCKS_EXCLUDED(mu_);     // Submit() calls accepted.
  uint64_t FdatasyncCount() ABSL_LOCKS_EXCLUDED(mu_);  // ... of which kFdatasync.
  uint64_t CompletedCount() ABSL_LOCKS_EXCLUDED(mu_);  // Complete() calls made.
  // Writes completed on `fd` that no fdatasync has covered yet (what a Crash could tear).
  // REQUIRES: Options::track_unsynced_writes.
  size_t UnsyncedWriteCount(int fd) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // A device image in 4 KiB chunks; absent chunks read as zeros, so large devices cost only
  // what is written.
  class Image {
   public:
    void Write(uint64_t offset, const char* data, size_t len);
    void Read(uint64_t offset, char* out, size_t len) const;

   private:
    static constexpr uint64_t kChunkBytes = 4096;
    absl::flat_hash_map<uint64_t, std::string> chunks_;
  };

  // A completed write no fdatasync has covered yet (Options::track_unsynced_writes).
  struct UnsyncedWrite {
    uint64_t seq = 0;  // completion order on its device
    uint64_t offset_bytes = 0;
    std::string data;  // what the write put on the volatile image
  };

  struct Device {
    uint64_t size_bytes = 0;
    std::unique_ptr<IoBackend> backing;  // the real device behind it, if any
    Image volatile_image;
    Image durable_image;
    std::deque<UnsyncedWrite> unsynced;  // oldest first; bounded by the test's writes
    uint64_t next_write_seq = 0;
  };

  struct PendingIo {
    IoRequest* request = nullptr;
    IoOp op = IoOp::kWritev;
    int fd = -1;
    uint64_t offset_bytes = 0;
    uint64_t bytes = 0;
    std::string write_data;  // kWritev: the bytes as they were at Submit().
    uint64_t crash_epoch = 0;
    // kFdatasync with Options::track_unsynced_writes: it covers the device's writes whose seq
    // is below this (those completed when it was submitted).
    uint64_t sync_covers_before = 0;
  };

  // Removes pending request `pick(PendingCount())`, applies `res` to the device, and runs
  // Complete() with no lock held. Returns false if nothing was pending.
  bool CompleteOne(const std::function<size_t(size_t)>& pick, int32_t res) ABSL_LOCKS_EXCLUDED(mu_);
  int32_t NaturalResultLocked(const PendingIo& io) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyLocked(const PendingIo& io, int32_t res) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Device& DeviceLocked(int fd) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const PendingIo& PendingLocked(size_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunComplete(IoRequest* request, int32_t res) ABSL_LOCKS_EXCLUDED(mu_);
  // Performs what the model applies of `io` with result `res` on the device's real device (see
  // the class comment) and returns the result Complete() sees: `res`, or the real device's error.
  int32_t ForwardLocked(Device& device, const PendingIo& io, int32_t res)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AutoCompleteLoop() ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  const BackingFactory backing_;

  absl::Mutex mu_;
  absl::CondVar pending_changed_;  // The auto thread waits on it.
  absl::flat_hash_map<int, std::unique_ptr<Device>> devices_ ABSL_GUARDED_BY(mu_);
  int next_fd_ ABSL_GUARDED_BY(mu_) = kFirstFd;
  std::deque<PendingIo> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t crash_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t submit_count_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t fdatasync_count_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t completed_count_ ABSL_GUARDED_BY(mu_) = 0;

  std::thread auto_thread_;  // Only with Options::auto_complete.
  std::once_flag shutdown_once_;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_IO_TESTING_FAKE_IO_BACKEND_H_
