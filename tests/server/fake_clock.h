#ifndef GCNSERVE_TESTS_SERVER_FAKE_CLOCK_H_
#define GCNSERVE_TESTS_SERVER_FAKE_CLOCK_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "server/base/clock.h"

namespace gcnserve {

// A clock that moves only when the test says so. A timed wait on it
// (WaitUntil) returns once Advance has moved it past the deadline: Advance
// wakes every waiter, which looks at the time again. The waiter also looks
// every millisecond, so that a wake-up that falls between its look and its
// wait is never lost; how soon it looks changes no result.
class FakeClock : public Clock {
 public:
  TimePoint Now() const override { return TimePoint(Duration(ticks_.load())); }

  void Advance(Duration d) {
    ticks_ += d.count();
    std::lock_guard<std::mutex> lock(mu_);
    for (std::condition_variable* waiter : waiters_) waiter->notify_all();
  }

  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 TimePoint deadline) const override {
    if (Now() >= deadline) return;
    {
      std::lock_guard<std::mutex> guard(mu_);
      waiters_.push_back(&cv);
    }
    cv.wait_for(lock, std::chrono::milliseconds(1));
    std::lock_guard<std::mutex> guard(mu_);
    waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &cv));
  }

 private:
  std::atomic<Duration::rep> ticks_{Duration(std::chrono::hours(1)).count()};
  mutable std::mutex mu_;
  mutable std::vector<std::condition_variable*> waiters_;
};

}  // namespace gcnserve

#endif  // GCNSERVE_TESTS_SERVER_FAKE_CLOCK_H_
