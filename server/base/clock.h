#ifndef GCNSERVE_SERVER_BASE_CLOCK_H_
#define GCNSERVE_SERVER_BASE_CLOCK_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace gcnserve {

// The time source of everything that waits or measures. Injected so that tests
// can move time by hand instead of sleeping. Implementations are thread-safe.
class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;

  // Waits on `cv`, `lock` held, until it is notified or `deadline` passes
  // on this clock (it may also return spuriously, as condition variables
  // do). The real clock waits for that long; a test's clock returns once
  // it is moved past `deadline`.
  virtual void WaitUntil(std::condition_variable& cv,
                         std::unique_lock<std::mutex>& lock,
                         TimePoint deadline) const {
    cv.wait_until(lock, deadline);
  }

  // The process-wide steady clock.
  static Clock* Real();
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_BASE_CLOCK_H_
