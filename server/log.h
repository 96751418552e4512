#ifndef GCNSERVE_SERVER_LOG_H_
#define GCNSERVE_SERVER_LOG_H_

#include <string_view>

#include "absl/strings/str_cat.h"

namespace gcnserve {

// Writes one line to stderr with a UTC timestamp, whole, even when several
// threads log at once.
void LogLine(std::string_view line);

template <typename... Args>
void Log(const Args&... args) {
  LogLine(absl::StrCat(args...));
}

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_LOG_H_
