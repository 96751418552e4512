#ifndef GCNSERVE_TESTS_SERVER_FAKE_CLOCK_H_
#define GCNSERVE_TESTS_SERVER_FAKE_CLOCK_H_

#include <atomic>

#include "server/base/clock.h"

namespace gcnserve {

// A clock that moves only when the test says so.
class FakeClock : public Clock {
 public:
  TimePoint Now() const override { return TimePoint(Duration(ticks_.load())); }
  void Advance(Duration d) { ticks_ += d.count(); }

 private:
  std::atomic<Duration::rep> ticks_{Duration(std::chrono::hours(1)).count()};
};

}  // namespace gcnserve

#endif  // GCNSERVE_TESTS_SERVER_FAKE_CLOCK_H_
