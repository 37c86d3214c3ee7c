#ifndef BLOCKSTORE_SERVER_SERVICE_REACTOR_LIFETIME_H_
#define BLOCKSTORE_SERVER_SERVICE_REACTOR_LIFETIME_H_

#include <atomic>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace blockstore {

// The lifetime of one streaming reactor whose work also runs on engine threads: when its call
// is finished, with which status, and when the reactor is deleted. gRPC keeps a reactor alive
// while its own reactions run and until OnDone; an engine callback (Volume::Write, Volume::Read,
// a FlushObserver) runs on a thread gRPC does not know about, and must not find the reactor
// deleted under it. Every stream reactor of the service owns one of these.
//
// The protocol (like an IoEnd's references: the submitter holds one while it adds more):
// - A lifetime starts with one hold, its creator's. Everything that will call back into the
//   reactor holds it from the moment it is started to its callback's last use of the reactor:
//   each StartRead and StartWrite (until OnReadDone / OnWriteDone returns) and each engine
//   operation (until its callback's last step). Take a hold with Hold() before starting the
//   operation, while holding one already; give it back with Release() as the last step of the
//   callback. The creator releases its hold once the constructor has started what it starts.
// - Break() records that the stream broke: OnCancel, or a send that failed (the client is
//   gone). RecordError() records the call's error; the first one recorded stays.
// - The Release that lets go of the last hold calls `finish` exactly once, with
//   CANCELLED if the stream broke, else the first error recorded, else OK. No hold can be taken
//   after that (nobody holds one), so nothing calls back into the reactor any more.
// - gRPC calls OnDone (the reactor forwards it here) only after `finish` called Finish. The
//   reactor is deleted (`destroy`) once OnDone has run *and* the last Release has returned,
//   whichever is later: Finish may deliver OnDone on another thread while the finishing thread
//   is still inside Release.
//
// Threads: Hold, Release, Break and RecordError may be called from any thread (gRPC reactions,
// engine callbacks, inline from a reaction) by a caller that holds the lifetime, or from a gRPC
// reaction (OnCancel holds nothing: gRPC keeps the reactor alive until it returns). `finish`
// runs on the thread of the last Release; `destroy` on that thread or on OnDone's. Call Release
// with none of the reactor's locks held: it may finish the call and delete the reactor, and
// must be its caller's last use of the reactor.
class ReactorLifetime {
 public:
  // `finish(status)` finishes the call (ObserveRpc and Finish); `destroy()` deletes the
  // reactor, and with it this lifetime.
  ReactorLifetime(absl::AnyInvocable<void(const absl::Status&)> finish,
                  absl::AnyInvocable<void()> destroy);
  ReactorLifetime(const ReactorLifetime&) = delete;
  ReactorLifetime& operator=(const ReactorLifetime&) = delete;

  // One more hold. REQUIRES: the caller holds one (so the call cannot have finished).
  void Hold();
  // Gives back one hold. The last one calls `finish`, then `destroy` if OnDone already ran.
  void Release();

  // The stream broke: the call finishes CANCELLED, whatever error was recorded. Idempotent.
  void Break() { broken_.store(true, std::memory_order_release); }
  // True once Break() was called: send nothing more, read nothing more.
  bool broken() const { return broken_.load(std::memory_order_acquire); }
  // The call's status unless the stream broke; the first error recorded stays, OK is ignored.
  void RecordError(const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);

  // Forwarded from the reactor's OnDone (gRPC's last reaction).
  void OnDone();

 private:
  // Drops one of the two references to the reactor (OnDone's, the finisher's); the last
  // destroys it. The caller's last use of this.
  void Unref();

  absl::AnyInvocable<void(const absl::Status&)> finish_;
  absl::AnyInvocable<void()> destroy_;
  // Holds of work that will call back into the reactor; 0 means finished, for good.
  std::atomic<int> holds_{1};
  // gRPC's OnDone and the thread that calls `finish`: both must be done with the reactor before
  // it is deleted.
  std::atomic<int> refs_{2};
  std::atomic<bool> broken_{false};

  absl::Mutex mu_;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_REACTOR_LIFETIME_H_
