// ReactorLifetime on its own, without gRPC: a FakeReactor stands in for a stream reactor, and
// test threads for gRPC's reactions and the engine's callbacks. Each test states the order of
// events it drives. The reactor is deleted by the lifetime, so a use after the deletion is a
// heap-use-after-free under ASan and a race under TSan (tools/test.sh runs this under both).
//
// The threads here synchronize with std::mutex and std::condition_variable, which TSan sees,
// not with absl::Mutex or absl::Notification (Debian's abseil is not built for TSan).

#include "server/service/reactor_lifetime.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace blockstore {
namespace {

// What a test observes of one call, outside the reactor (which is deleted).
class Probe {
 public:
  void Finished(const absl::Status& status, uint64_t touches) {
    std::lock_guard<std::mutex> lock(mu_);
    ++finish_calls_;
    status_ = status;
    touches_at_finish_ = touches;
    cv_.notify_all();
  }
  void Destroyed() {
    std::lock_guard<std::mutex> lock(mu_);
    ++destroy_calls_;
    cv_.notify_all();
  }

  void WaitFinished() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return finish_calls_ > 0; });
  }
  void WaitDestroyed() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return destroy_calls_ > 0; });
  }

  int finish_calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return finish_calls_;
  }
  int destroy_calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return destroy_calls_;
  }
  absl::Status status() {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }
  uint64_t touches_at_finish() {
    std::lock_guard<std::mutex> lock(mu_);
    return touches_at_finish_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int finish_calls_ = 0;
  int destroy_calls_ = 0;
  absl::Status status_;
  uint64_t touches_at_finish_ = 0;
};

// A stand-in for a stream reactor: its callbacks touch its state until their last step, as
// the service's reactors do, and `finish` records how many touches came before it.
class FakeReactor {
 public:
  // `on_done_inside_finish`: `finish` runs OnDone itself before it returns, as gRPC may on
  // another thread; `finish` then checks that the reactor is still there.
  explicit FakeReactor(Probe* probe, bool on_done_inside_finish = false)
      : probe_(probe),
        on_done_inside_finish_(on_done_inside_finish),
        lifetime_([this](const absl::Status& status) { OnFinish(status); },
                  [this] { delete this; }) {}
  ~FakeReactor() { probe_->Destroyed(); }

  ReactorLifetime& lifetime() { return lifetime_; }

  // A callback's use of the reactor's state.
  void Touch() {
    std::lock_guard<std::mutex> lock(mu_);
    ++touches_;
  }
  uint64_t touches() {
    std::lock_guard<std::mutex> lock(mu_);
    return touches_;
  }

 private:
  void OnFinish(const absl::Status& status) {
    probe_->Finished(status, touches());
    if (!on_done_inside_finish_) return;
    Probe* const probe = probe_;
    lifetime_.OnDone();
    EXPECT_EQ(probe->destroy_calls(), 0) << "deleted while finish was still running";
    Touch();  // still ours: a use after free here fails under ASan and TSan
  }

  Probe* const probe_;
  const bool on_done_inside_finish_;
  std::mutex mu_;
  uint64_t touches_ = 0;
  ReactorLifetime lifetime_;
};

// Threads that run queued tasks, standing in for the engine's completion threads or gRPC's
// callback threads. Drain() waits until every task queued so far has run.
class Workers {
 public:
  explicit Workers(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~Workers() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (std::thread& thread : threads_) thread.join();
  }

  void Add(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks_.push_back(std::move(task));
      ++queued_;
    }
    cv_.notify_one();
  }

  void Drain() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return ran_ == queued_; });
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      std::function<void()> task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
      ++ran_;
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  uint64_t queued_ = 0;
  uint64_t ran_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

TEST(ReactorLifetimeTest, FinishesOnceWhenTheLastHoldIsReleased) {
  // Method: the creator takes two holds and lets go of its own; the call finishes only with
  // the last Release, and the reactor goes only after OnDone.
  Probe probe;
  auto* reactor = new FakeReactor(&probe);
  ReactorLifetime& lifetime = reactor->lifetime();
  lifetime.Hold();
  lifetime.Hold();
  lifetime.Release();  // the creator's
  lifetime.Release();
  EXPECT_EQ(probe.finish_calls(), 0);
  lifetime.Release();
  EXPECT_EQ(probe.finish_calls(), 1);
  EXPECT_TRUE(probe.status().ok()) << probe.status();
  EXPECT_EQ(probe.destroy_calls(), 0) << "deleted before OnDone";
  lifetime.OnDone();
  EXPECT_EQ(probe.destroy_calls(), 1);
  EXPECT_EQ(probe.finish_calls(), 1);
}

TEST(ReactorLifetimeTest, OnDoneInsideFinishDeletesOnlyAfterTheReleaseReturns) {
  // Method: `finish` runs OnDone before it returns (gRPC may run OnDone on another thread as
  // soon as Finish is called); the reactor is still there when `finish` goes on, and is deleted
  // when the finishing Release returns.
  Probe probe;
  auto* reactor = new FakeReactor(&probe, /*on_done_inside_finish=*/true);
  reactor->lifetime().Release();  // the creator's, and the last
  EXPECT_EQ(probe.finish_calls(), 1);
  EXPECT_EQ(probe.destroy_calls(), 1);
}

TEST(ReactorLifetimeTest, ABrokenStreamFinishesCancelledWhateverTheError) {
  Probe probe;
  auto* reactor = new FakeReactor(&probe);
  reactor->lifetime().RecordError(absl::DataLossError("page 3"));
  reactor->lifetime().Break();
  reactor->lifetime().Break();  // a send fails after OnCancel: still once
  EXPECT_TRUE(reactor->lifetime().broken());
  reactor->lifetime().Release();
  EXPECT_EQ(probe.status().code(), absl::StatusCode::kCancelled) << probe.status();
  reactor->lifetime().OnDone();
  EXPECT_EQ(probe.destroy_calls(), 1);
}

TEST(ReactorLifetimeTest, TheFirstErrorRecordedIsTheStatus) {
  Probe probe;
  auto* reactor = new FakeReactor(&probe);
  ReactorLifetime& lifetime = reactor->lifetime();
  EXPECT_FALSE(lifetime.broken());
  lifetime.RecordError(absl::OkStatus());  // not an error: ignored
  lifetime.RecordError(absl::DataLossError("page 3"));
  lifetime.RecordError(absl::InternalError("page 1"));
  lifetime.Release();
  EXPECT_EQ(probe.status(), absl::DataLossError("page 3"));
  lifetime.OnDone();
}

TEST(ReactorLifetimeTest, CancelledWithEngineWritesPendingFinishesAfterTheLast) {
  // Method: three engine writes are out (parked on the dirty limit, say) when the call is
  // cancelled and the client's half of the stream ends; the call finishes only when the last
  // write's callback lets go, CANCELLED, and that callback can still use the reactor.
  Probe probe;
  auto* reactor = new FakeReactor(&probe);
  ReactorLifetime& lifetime = reactor->lifetime();
  for (int i = 0; i < 3; ++i) lifetime.Hold();  // one per write handed to the engine
  lifetime.Break();                             // OnCancel
  lifetime.Release();                           // the read that ended (ok=false)
  Workers engine(1);
  for (int i = 0; i < 2; ++i) {
    engine.Add([reactor] {
      reactor->Touch();
      reactor->lifetime().Release();
    });
  }
  engine.Drain();
  EXPECT_EQ(probe.finish_calls(), 0) << "finished with a write still in the engine";
  engine.Add([reactor] {
    reactor->Touch();
    reactor->lifetime().Release();  // the last use of the reactor
  });
  engine.Drain();
  EXPECT_EQ(probe.finish_calls(), 1);
  EXPECT_EQ(probe.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(probe.touches_at_finish(), 3u);
  EXPECT_EQ(probe.destroy_calls(), 0);
  reactor->lifetime().OnDone();
  EXPECT_EQ(probe.destroy_calls(), 1);
}

TEST(ReactorLifetimeTest, ConcurrentCallbacksFinishOnceAfterTheLastUse) {
  // Method: 4 threads play engine callbacks, 1,000 each. Each callback holds the lifetime,
  // touches the reactor, records an error one time in 100, and every other one starts a
  // follow-up on another thread (a send: a hold taken while holding its own) before it lets
  // go. The creator lets go while they run, and a "gRPC" thread runs OnDone as soon as the
  // call is finished, racing with the finishing thread's return. The call finishes once, after
  // every touch, with a recorded error; the reactor is deleted once.
  constexpr int kThreads = 4;
  constexpr int kCallbacksPerThread = 1000;
  Probe probe;
  std::atomic<uint64_t> touched{0};
  auto* reactor = new FakeReactor(&probe);
  Workers sends(2);
  std::vector<std::thread> engine;
  for (int t = 0; t < kThreads; ++t) {
    reactor->lifetime().Hold();  // the thread's, taken by the creator
    engine.emplace_back([reactor, &sends, &touched, t] {
      for (int i = 0; i < kCallbacksPerThread; ++i) {
        reactor->lifetime().Hold();  // this callback's (the thread's hold covers taking it)
        reactor->Touch();
        ++touched;
        if (i % 100 == t) {
          reactor->lifetime().RecordError(absl::DataLossError(absl::StrCat("thread ", t)));
        }
        if (i % 2 == 0) {
          reactor->lifetime().Hold();  // the send's
          sends.Add([reactor, &touched] {
            reactor->Touch();
            ++touched;
            reactor->lifetime().Release();
          });
        }
        reactor->lifetime().Release();
      }
      reactor->lifetime().Release();  // the thread's: its last use of the reactor
    });
  }
  std::thread grpc([&probe, reactor] {
    probe.WaitFinished();
    reactor->lifetime().OnDone();
  });
  reactor->lifetime().Release();  // the creator's
  for (std::thread& thread : engine) thread.join();
  grpc.join();
  sends.Drain();
  probe.WaitDestroyed();
  EXPECT_EQ(probe.finish_calls(), 1);
  EXPECT_EQ(probe.destroy_calls(), 1);
  EXPECT_EQ(probe.status().code(), absl::StatusCode::kDataLoss) << probe.status();
  EXPECT_EQ(probe.touches_at_finish(), touched.load());
  EXPECT_EQ(touched.load(), kThreads * kCallbacksPerThread * 3 / 2);
}

TEST(ReactorLifetimeTest, CancellationMidStreamFinishesCancelledAfterTheLastCallback) {
  // Method, 100 times with a seeded random cancellation point: a reader thread plays gRPC's
  // reads of an endless write stream. Each read reaction holds the lifetime, hands a write to
  // the engine (a hold, run by two engine threads) and starts the next read (a hold), then lets
  // go of its own; once the stream broke, the read ends and starts nothing. The engine's
  // callback starts a send (a hold, run by a send thread) unless the stream broke. A canceller
  // thread breaks the stream (OnCancel) after a random number of reads, while writes and sends
  // are out. The call finishes CANCELLED, once, after every callback's last touch; OnDone,
  // run as soon as the call finishes, deletes the reactor once.
  std::mt19937 random(20260107);
  Workers engine(2);
  Workers sends(1);
  for (int round = 0; round < 100; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    const int cancel_after = std::uniform_int_distribution<int>(0, 200)(random);
    Probe probe;
    std::atomic<uint64_t> touched{0};
    std::atomic<int> reads{0};
    auto* reactor = new FakeReactor(&probe);
    // The creator's hold becomes the first read's.
    std::thread reader([reactor, &engine, &sends, &touched, &reads] {
      for (;;) {
        ReactorLifetime& lifetime = reactor->lifetime();
        if (lifetime.broken()) {
          lifetime.Release();  // OnReadDone(ok=false): no next read
          return;
        }
        reactor->Touch();
        ++touched;
        lifetime.Hold();  // the engine write's
        engine.Add([reactor, &sends, &touched] {
          reactor->Touch();
          ++touched;
          if (!reactor->lifetime().broken()) {
            reactor->lifetime().Hold();  // the send's
            sends.Add([reactor, &touched] {
              reactor->Touch();
              ++touched;
              reactor->lifetime().Release();
            });
          }
          reactor->lifetime().Release();
        });
        lifetime.Hold();     // the next read's
        lifetime.Release();  // this read's
        ++reads;
      }
    });
    // OnCancel: a gRPC reaction, so the reactor lives until it returns (OnDone waits for it).
    std::thread canceller([reactor, &reads, cancel_after] {
      while (reads.load() < cancel_after) std::this_thread::yield();
      reactor->lifetime().Break();
    });
    canceller.join();
    probe.WaitFinished();
    reactor->lifetime().OnDone();
    reader.join();
    engine.Drain();
    sends.Drain();
    probe.WaitDestroyed();
    EXPECT_EQ(probe.finish_calls(), 1);
    EXPECT_EQ(probe.destroy_calls(), 1);
    EXPECT_EQ(probe.status().code(), absl::StatusCode::kCancelled) << probe.status();
    EXPECT_EQ(probe.touches_at_finish(), touched.load());
    EXPECT_GE(reads.load(), cancel_after);
  }
}

}  // namespace
}  // namespace blockstore
