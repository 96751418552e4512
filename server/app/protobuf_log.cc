#include "server/app/protobuf_log.h"

#include <google/protobuf/stubs/logging.h>

#include <chrono>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/base/clock.h"
#include "server/base/log.h"

namespace gcnserve {
namespace {

void ProtobufLogHandler(google::protobuf::LogLevel level, const char* filename,
                        int line, const std::string& message) {
  if (level == google::protobuf::LOGLEVEL_FATAL) {
    LogLine(absl::StrCat("libprotobuf FATAL ", filename, ":", line, ": ",
                         message));
    return;
  }
  static auto* log =
      new RateLimitedLog(1, std::chrono::minutes(1), Clock::Real());
  log->Log(absl::StrCat("libprotobuf: ", message));
}

}  // namespace

void RateLimitProtobufLog() {
  google::protobuf::SetLogHandler(&ProtobufLogHandler);
}

}  // namespace gcnserve
