#ifndef GCNSERVE_SERVER_BASE_LOG_H_
#define GCNSERVE_SERVER_BASE_LOG_H_

#include <cstdint>
#include <functional>
#include <mutex>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "server/base/clock.h"

namespace gcnserve {

// Writes one line to stderr with a UTC timestamp, whole, even when several
// threads log at once.
void LogLine(std::string_view line);

template <typename... Args>
void Log(const Args&... args) {
  LogLine(absl::StrCat(args...));
}

// A log for lines that clients can cause (decoder warnings about the images
// they send), so that a request rate never becomes a log rate: at most
// `burst` lines pass in each `interval`; the rest are counted, and the first
// line that passes after them says how many were left out. Thread-safe.
class RateLimitedLog {
 public:
  using Sink = std::function<void(std::string_view line)>;

  // `clock` outlives the log; `sink` receives the lines that pass.
  RateLimitedLog(int burst, Clock::Duration interval, Clock* clock,
                 Sink sink = LogLine);

  // Passes `line` on, or counts it as left out.
  void Log(std::string_view line);

 private:
  const int burst_;
  const Clock::Duration interval_;
  Clock* const clock_;
  const Sink sink_;
  std::mutex mu_;
  // The current interval began at window_start_; passed_ lines of it went
  // to the sink, and left_out_ lines since the last passed one did not.
  Clock::TimePoint window_start_ ABSL_GUARDED_BY(mu_);
  int passed_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t left_out_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_BASE_LOG_H_
