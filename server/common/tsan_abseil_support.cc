// Linked (statically, alwayslink) into every binary that takes the engine's annotated locks
// (annotated_mutex_lock.h): what ThreadSanitizer runs need when the abseil they link is
// Debian's, which is not built with -fsanitize=thread. Nothing here is compiled without TSan.
//
// - absl::Mutex keeps a process-wide lock-order graph (GraphCycles) in builds without NDEBUG,
//   guarded by an abseil-internal spin lock TSan cannot see: two threads taking a second lock
//   at once show up as a race inside GraphCycles. TSan's own deadlock detector sees the
//   engine's annotated locks (AnnotatedMutexLock) and checks lock order instead, so the abseil
//   graph is switched off.
// - absl::Status shares one heap rep between its copies. Copying increments the reference count
//   in inline (instrumented) code, but the decrement and the delete are in the library, so TSan
//   sees one thread free a rep that another thread copied and read, without the release and
//   acquire that order them, and reports a race (e.g. a Flush's summary freed on the device's
//   completion thread after the test thread has read and dropped its copy). The definition of
//   Status::UnrefNonInlined below is abseil 20220623's own, compiled here with TSan: the test
//   executable's definition takes precedence over the shared library's, so TSan sees the
//   acq_rel decrement. Nothing is suppressed.
#include <atomic>
#include <cstdint>

#include "absl/base/config.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

#ifdef ABSL_HAVE_THREAD_SANITIZER

static_assert(ABSL_LTS_RELEASE_VERSION == 20220623,
              "Status::UnrefNonInlined below is abseil 20220623's; check it against this version");

namespace {

const bool kAbslLockGraphOff = [] {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return true;
}();

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Status::UnrefNonInlined(uintptr_t rep) {
  status_internal::StatusRep* r = RepToPointer(rep);
  // As abseil: with ref == 1 this is the only reference, so no other thread can touch r.
  if (r->ref.load(std::memory_order_acquire) == 1 ||
      r->ref.fetch_sub(1, std::memory_order_acq_rel) - 1 == 0) {
    delete r;
  }
}

ABSL_NAMESPACE_END
}  // namespace absl

#endif  // ABSL_HAVE_THREAD_SANITIZER
