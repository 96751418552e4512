#include "server/log.h"

#include <cstdio>
#include <ctime>
#include <string>

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
