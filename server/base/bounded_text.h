#ifndef GCNSERVE_SERVER_BASE_BOUNDED_TEXT_H_
#define GCNSERVE_SERVER_BASE_BOUNDED_TEXT_H_

#include <cstddef>
#include <string>
#include "absl/strings/string_view.h"

namespace gcnserve {

// Bytes of request text (a model name, a field value) that a status message
// or a log line may quote.
inline constexpr size_t kMaxEchoBytes = 64;
// The longest status message a client gets, in bytes: far below the 8 KiB
// that gRPC clients accept for all trailers together.
inline constexpr size_t kMaxStatusMessageBytes = 1024;

// Text from a request, safe to quote in a status message or a log line: the
// first `max_bytes` bytes, with control characters, quotes and bytes outside
// printable ASCII written as C escapes (\n, \", \xff), so invalid UTF-8 and
// line breaks cannot reach a log; a longer text ends in "... (N bytes)".
std::string EchoText(absl::string_view text, size_t max_bytes = kMaxEchoBytes);

// `message` cut to kMaxStatusMessageBytes at a UTF-8 character boundary,
// ending in "..." when cut.
std::string BoundStatusMessage(absl::string_view message);

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_BASE_BOUNDED_TEXT_H_
