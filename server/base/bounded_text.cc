#include "server/base/bounded_text.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace gcnserve {

std::string EchoText(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return absl::CHexEscape(text);
  return absl::StrCat(absl::CHexEscape(text.substr(0, max_bytes)), "... (",
                      text.size(), " bytes)");
}

std::string BoundStatusMessage(absl::string_view message) {
  if (message.size() <= kMaxStatusMessageBytes) return std::string(message);
  constexpr absl::string_view kCut = "...";
  size_t end = kMaxStatusMessageBytes - kCut.size();
  // Back up over UTF-8 continuation bytes (10xxxxxx) to a character start.
  while (end > 0 && (static_cast<unsigned char>(message[end]) & 0xC0) == 0x80) {
    --end;
  }
  return absl::StrCat(message.substr(0, end), kCut);
}

}  // namespace gcnserve
