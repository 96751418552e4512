#ifndef GCNSERVE_SERVER_RATE_LIMITED_LOG_H_
#define GCNSERVE_SERVER_RATE_LIMITED_LOG_H_

#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "server/clock.h"

namespace gcnserve {

// Passes on at most one line per `interval` of a kind that a client can
// cause per request (a library complaining about request bytes), so that a
// flood of bad requests cannot flood the log. A line that is held back is
// counted, and the next line passed on says how many were. Thread-safe.
class RateLimitedLog {
 public:
  // `write` gets each line passed on (LogLine by default); `clock` outlives
  // this.
  RateLimitedLog(std::string prefix, Clock::Duration interval, Clock* clock,
                 std::function<void(std::string_view)> write = nullptr);

  // Writes `prefix + line` now, or counts it if a line was written less than
  // `interval` ago.
  void Log(std::string_view line);

 private:
  const std::string prefix_;
  const Clock::Duration interval_;
  Clock* const clock_;
  const std::function<void(std::string_view)> write_;

  std::mutex mu_;
  bool written_ ABSL_GUARDED_BY(mu_) = false;
  Clock::TimePoint last_ ABSL_GUARDED_BY(mu_);
  int64_t held_back_ ABSL_GUARDED_BY(mu_) = 0;  // since last_
};

// Routes protobuf's own log lines (such as "String field ... contains
// invalid UTF-8 data when parsing", one per bad request otherwise) through
// a RateLimitedLog of one line a minute. Idempotent; FATAL stays fatal.
void RateLimitProtobufLog();

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_RATE_LIMITED_LOG_H_
