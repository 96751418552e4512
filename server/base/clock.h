#ifndef GCNSERVE_SERVER_BASE_CLOCK_H_
#define GCNSERVE_SERVER_BASE_CLOCK_H_

#include <chrono>

namespace gcnserve {

// The time source of everything that waits or measures. Injected so that tests
// can move time by hand instead of sleeping. Implementations are thread-safe.
class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;

  // The process-wide steady clock.
  static Clock* Real();
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_BASE_CLOCK_H_
