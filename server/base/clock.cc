#include "server/base/clock.h"

namespace gcnserve {
namespace {

class SteadyClock : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace

Clock* Clock::Real() {
  static SteadyClock* const clock = new SteadyClock;
  return clock;
}

}  // namespace gcnserve
