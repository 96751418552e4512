#include "server/base/log.h"

#include <cstdio>
#include <ctime>
#include <string>
#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace gcnserve {

void LogLine(std::string_view line) {
  std::string out = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ ", absl::Now(),
                                     absl::UTCTimeZone());
  out.append(line);
  out.push_back('\n');
  std::fwrite(out.data(), 1, out.size(), stderr);  // one write: lines stay whole
}

}  // namespace gcnserve

namespace gcnserve {

RateLimitedLog::RateLimitedLog(int burst, Clock::Duration interval,
                               Clock* clock, Sink sink)
    : burst_(burst),
      interval_(interval),
      clock_(clock),
      sink_(std::move(sink)),
      window_start_(clock->Now()) {}

void RateLimitedLog::Log(std::string_view line) {
  int64_t left_out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Clock::TimePoint now = clock_->Now();
    if (now - window_start_ >= interval_) {
      window_start_ = now;
      passed_ = 0;
    }
    if (passed_ >= burst_) {
      ++left_out_;
      return;
    }
    ++passed_;
    left_out = left_out_;
    left_out_ = 0;
  }
  if (left_out == 0) {
    sink_(line);
  } else {
    sink_(absl::StrCat(std::string(line), " (", left_out,
                       " similar lines were left out before this one)"));
  }
}

}  // namespace gcnserve
