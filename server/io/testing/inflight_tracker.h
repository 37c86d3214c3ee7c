#ifndef BLOCKSTORE_SERVER_IO_TESTING_INFLIGHT_TRACKER_H_
#define BLOCKSTORE_SERVER_IO_TESTING_INFLIGHT_TRACKER_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/io/io_backend.h"
#include "server/io/io_request.h"

namespace blockstore {

// Knows which submitted requests are in flight, whatever sits below it (a FaultyIoBackend
// forwards requests of its own to the fake, so the fake's pending list no longer names the
// submitter's requests). Each request is wrapped; the wrapper's completion removes the request
// from the in-flight set before the request's own Complete() runs (which may resubmit it: it is
// then in flight again). Thread-safe. Testonly.
class InFlightTracker : public IoBackend {
 public:
  // What the in-flight requests are, oldest first. Called under the tracker's lock: it must not
  // submit or block.
  using InFlightPredicate = std::function<bool(const std::vector<IoRequest*>& in_flight)>;

  explicit InFlightTracker(IoBackend* target) : target_(target) {}
  ~InFlightTracker() override { Shutdown(); }

  absl::Status Submit(IoRequest* request) override;
  void Shutdown() override { target_->Shutdown(); }
  absl::string_view Name() const override { return "tracker"; }

  // Calls `visit` with the requests in flight, under the lock (the requests cannot complete and
  // go away meanwhile; `visit` must not submit or block).
  void VisitInFlight(const std::function<void(const std::vector<IoRequest*>&)>& visit)
      ABSL_LOCKS_EXCLUDED(mu_);
  size_t InFlight() ABSL_LOCKS_EXCLUDED(mu_);
  // Requests submitted so far (accepted or not).
  uint64_t submits() ABSL_LOCKS_EXCLUDED(mu_);
  // True once more than `seen` requests were submitted in total; false after `timeout`.
  bool WaitForSubmitsAfter(uint64_t seen, absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_);
  // True once `done` holds for the requests in flight and every one of them has reached the
  // backend below (no Submit() is half way); false after `timeout`.
  bool WaitUntil(const InFlightPredicate& done, absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  class Tracked;

  void Remove(IoRequest* request) ABSL_LOCKS_EXCLUDED(mu_);

  IoBackend* const target_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  std::vector<IoRequest*> in_flight_ ABSL_GUARDED_BY(mu_);
  uint64_t submits_ ABSL_GUARDED_BY(mu_) = 0;
  int submitting_ ABSL_GUARDED_BY(mu_) = 0;  // Submit() calls not yet returned
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_IO_TESTING_INFLIGHT_TRACKER_H_
