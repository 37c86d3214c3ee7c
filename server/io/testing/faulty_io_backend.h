#ifndef BLOCKSTORE_SERVER_IO_TESTING_FAULTY_IO_BACKEND_H_
#define BLOCKSTORE_SERVER_IO_TESTING_FAULTY_IO_BACKEND_H_

#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/io/allocation_faults.h"
#include "server/io/io_backend.h"
#include "server/io/io_request.h"

namespace blockstore {

// Wraps a target IoBackend and injects device faults into what passes through, as leveldb's
// EnvWrapper does for files. Faults modelled:
// - Bad block (FailBlock): every write that touches the block fails with EIO or ENOSPC and
//   writes nothing. Reads of the block are not affected.
// - Failure of the nth Submit() (FailNthSubmit): that request fails with the given errno.
// - Random EIO (Options::eio_one_in, seeded; RocksDB's FaultInjectionTestFS): any op fails.
// - Short write (ShortWriteOnce, Options::short_write_one_in; Seastar's part_flaw): only the
//   first bytes of the write reach the target, and the result says how many.
// - EAGAIN (EagainTimes): the next n requests fail with -EAGAIN and write nothing (liburing#766).
//   SetEagainOneIn: each request does, with probability 1/n (seeded).
// - Short read (SetShortReadOneIn): a read is cut like a short write; the bytes before the cut
//   are read, and the result says how many.
// - Slow completion (SetSlowCompletions): the request reaches the target at once, but its
//   completion is held for a while on a thread of this wrapper, as from a slow device.
// - Resource exhaustion (FailAllocationsAt): MayAllocate() says no for a window of calls, and a
//   hook (SetOnAllocationFailure) runs right at the failure point, so a test can complete other
//   requests there, deterministically (rule R14 of docs/writeback-rules.md). This is the
//   AllocationFaults interface, not the device's: a test hands the wrapper to the writeback as
//   WritebackConfig::allocation_faults (through a Volume: VolumeOptions::allocation_faults).
// Device crash is the target's (FakeIoBackend::Crash()).
//
// Injected errors complete asynchronously, like real ones: the request is forwarded to the target
// as a zero-length write (or, for a short write, a truncated one), and the result is rewritten
// when the target completes it. So Complete() runs on the target's completion thread, never
// inside Submit(). When several faults apply to one Submit(), the first in this order wins:
// nth submit, EAGAIN, bad block, random EIO, short write or read. A slow completion combines
// with any of them. A held completion runs on the wrapper's delay thread instead.
//
// Thread-safe. The target must outlive this wrapper. Shutdown(), and so the destructor, shuts the
// target down too: the wrapper stands in for the device, as an EnvWrapper stands in for its Env.
class FaultyIoBackend : public IoBackend, public AllocationFaults {
 public:
  struct Options {
    uint64_t seed = 1;
    // 0: off. Otherwise each request fails with -EIO with probability 1/eio_one_in.
    uint32_t eio_one_in = 0;
    // 0: off. Otherwise each write longer than short_write_align_bytes is cut, with probability
    // 1/short_write_one_in, to a random non-zero multiple of short_write_align_bytes below its
    // length (512 keeps the cut usable with O_DIRECT).
    uint32_t short_write_one_in = 0;
    uint32_t short_write_align_bytes = 512;
  };

  // Faults injected so far, by kind.
  struct FaultCounts {
    uint64_t bad_block_writes = 0;
    uint64_t nth_submit_errors = 0;
    uint64_t random_eios = 0;
    uint64_t short_writes = 0;
    uint64_t eagains = 0;
    uint64_t allocation_failures = 0;
    uint64_t short_reads = 0;
    uint64_t slow_completions = 0;
  };

  explicit FaultyIoBackend(IoBackend* target);
  FaultyIoBackend(IoBackend* target, const Options& options);
  ~FaultyIoBackend() override;

  FaultyIoBackend(const FaultyIoBackend&) = delete;
  FaultyIoBackend& operator=(const FaultyIoBackend&) = delete;

  // Every later write (on any fd) that touches [device_offset_bytes_of_block,
  // + block_size) fails with -err (EIO or ENOSPC) and is not applied. Sticky, like a bad sector.
  void FailBlock(uint64_t device_offset_bytes_of_block, uint32_t block_size, int err)
      ABSL_LOCKS_EXCLUDED(mu_);
  void ClearBlockFaults() ABSL_LOCKS_EXCLUDED(mu_);
  // The nth Submit() accepted by this wrapper, counting from 1 since construction (see
  // SubmitCalls()), fails with -err.
  void FailNthSubmit(uint64_t n, int err) ABSL_LOCKS_EXCLUDED(mu_);
  void SetEioOneIn(uint32_t n) ABSL_LOCKS_EXCLUDED(mu_);
  // The next write longer than `bytes` is cut to its first `bytes`.
  void ShortWriteOnce(uint32_t bytes) ABSL_LOCKS_EXCLUDED(mu_);
  void SetShortWriteOneIn(uint32_t n) ABSL_LOCKS_EXCLUDED(mu_);
  // The next n requests fail with -EAGAIN and write nothing.
  void EagainTimes(int n) ABSL_LOCKS_EXCLUDED(mu_);
  // Each request fails with -EAGAIN (and writes nothing) with probability 1/n; 0: off.
  void SetEagainOneIn(uint32_t n) ABSL_LOCKS_EXCLUDED(mu_);
  // Each read longer than Options::short_write_align_bytes is cut, with probability 1/n, to a
  // random non-zero multiple of it below its length; 0: off.
  void SetShortReadOneIn(uint32_t n) ABSL_LOCKS_EXCLUDED(mu_);
  // The completion of one request in `one_in` (1: every request; 0: off) is held for `delay`
  // after the target completed it, then runs on this wrapper's delay thread (started by the
  // first call). Shutdown() releases held completions at once.
  void SetSlowCompletions(absl::Duration delay, uint32_t one_in = 1)
      ABSL_LOCKS_EXCLUDED(mu_, delay_mu_);
  // MayAllocate() returns false for `count` calls starting at the nth (counting from 1 since
  // construction, see AllocationCalls()). count == UINT64_MAX: from then on, for good.
  void FailAllocationsAt(uint64_t nth, uint64_t count) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs inside each MayAllocate() call that fails, before it returns false, with no lock of
  // this wrapper held (it may complete requests, which may resubmit).
  void SetOnAllocationFailure(std::function<void()> hook) ABSL_LOCKS_EXCLUDED(mu_);

  FaultCounts Counts() ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t SubmitCalls() ABSL_LOCKS_EXCLUDED(mu_);      // Submit() calls accepted.
  uint64_t AllocationCalls() ABSL_LOCKS_EXCLUDED(mu_);  // MayAllocate() calls.

  // AllocationFaults.
  bool MayAllocate() override ABSL_LOCKS_EXCLUDED(mu_);

  absl::Status Submit(IoRequest* request) override ABSL_LOCKS_EXCLUDED(mu_);
  // Refuses new requests, releases held (slow) completions, then shuts the target down, which
  // completes what is in flight (resubmissions from those completions are still accepted).
  // Idempotent.
  void Shutdown() override ABSL_LOCKS_EXCLUDED(mu_, delay_mu_);
  absl::string_view Name() const override { return "faulty"; }

 private:
  class Forwarded;

  // Runs on the target's completion thread.
  void OnForwardedComplete(Forwarded* forwarded, int32_t res) ABSL_LOCKS_EXCLUDED(mu_, delay_mu_);
  // Queues a held completion; false when completions are no longer held (shutting down).
  bool HoldCompletion(IoRequest* original, int32_t res, absl::Duration delay)
      ABSL_LOCKS_EXCLUDED(delay_mu_);
  // The delay thread: runs held completions when they are due.
  void DelayLoop() ABSL_LOCKS_EXCLUDED(delay_mu_);
  // True if a write [offset, offset + bytes) touches a failed block; sets *err.
  bool TouchesFailedBlockLocked(uint64_t offset, uint64_t bytes, int* err)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool OneIn(uint32_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  struct FailedBlock {
    uint64_t offset_bytes;
    uint32_t size_bytes;
    int err;
  };

  IoBackend* const target_;

  absl::Mutex mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  uint32_t eio_one_in_ ABSL_GUARDED_BY(mu_);
  uint32_t short_write_one_in_ ABSL_GUARDED_BY(mu_);
  const uint32_t short_write_align_bytes_;
  std::vector<FailedBlock> failed_blocks_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, int> fail_nth_submit_ ABSL_GUARDED_BY(mu_);  // n -> errno
  int64_t short_write_once_bytes_ ABSL_GUARDED_BY(mu_) = -1;      // -1: not armed.
  int eagain_left_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t fail_allocations_nth_ ABSL_GUARDED_BY(mu_) = 0;  // 0: off.
  uint64_t fail_allocations_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::function<void()> on_allocation_failure_ ABSL_GUARDED_BY(mu_);
  uint64_t submit_calls_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t allocation_calls_ ABSL_GUARDED_BY(mu_) = 0;
  FaultCounts counts_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  uint32_t eagain_one_in_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t short_read_one_in_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration slow_delay_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  uint32_t slow_one_in_ ABSL_GUARDED_BY(mu_) = 0;

  // Held completions. Never taken together with mu_.
  struct Held {
    IoRequest* request = nullptr;
    int32_t res = 0;
  };
  absl::Mutex delay_mu_;
  absl::CondVar delay_cv_;    // a completion was held, holding ended, or the thread is to stop
  absl::CondVar drained_cv_;  // the delay thread has nothing held and is not completing
  // Due time -> completion. Bounded by the requests in flight: each is held at most once.
  std::multimap<absl::Time, Held> held_ ABSL_GUARDED_BY(delay_mu_);
  bool holding_ ABSL_GUARDED_BY(delay_mu_) = true;      // false from Shutdown() on
  bool completing_ ABSL_GUARDED_BY(delay_mu_) = false;  // the delay thread runs a completion
  bool delay_exit_ ABSL_GUARDED_BY(delay_mu_) = false;
  std::thread delay_thread_ ABSL_GUARDED_BY(delay_mu_);
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_IO_TESTING_FAULTY_IO_BACKEND_H_
