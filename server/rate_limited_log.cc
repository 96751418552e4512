#include "server/rate_limited_log.h"

#include <google/protobuf/stubs/logging.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/log.h"

namespace gcnserve {

RateLimitedLog::RateLimitedLog(std::string prefix, Clock::Duration interval,
                               Clock* clock,
                               std::function<void(std::string_view)> write)
    : prefix_(std::move(prefix)),
      interval_(interval),
      clock_(clock),
      write_(write ? std::move(write) : LogLine) {}

void RateLimitedLog::Log(std::string_view line) {
  Clock::TimePoint now = clock_->Now();
  int64_t held_back;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (written_ && now - last_ < interval_) {
      ++held_back_;
      return;
    }
    written_ = true;
    last_ = now;
    held_back = std::exchange(held_back_, 0);
  }
  std::string out = prefix_;
  out.append(line);
  if (held_back > 0) {
    absl::StrAppend(&out, " (and ", held_back,
                    " more lines held back since the last one)");
  }
  write_(out);
}

namespace {

void ProtobufLogHandler(google::protobuf::LogLevel level, const char* filename,
                        int line, const std::string& message) {
  static auto* log = new RateLimitedLog("libprotobuf: ", std::chrono::minutes(1),
                                        Clock::Real());
  if (level == google::protobuf::LOGLEVEL_FATAL) {
    LogLine(absl::StrCat("libprotobuf FATAL ", filename, ":", line, ": ",
                         message));
    return;
  }
  log->Log(message);
}

}  // namespace

void RateLimitProtobufLog() {
  google::protobuf::SetLogHandler(&ProtobufLogHandler);
}

}  // namespace gcnserve
