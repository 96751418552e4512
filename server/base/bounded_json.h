#ifndef GCNSERVE_SERVER_BASE_BOUNDED_JSON_H_
#define GCNSERVE_SERVER_BASE_BOUNDED_JSON_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gcnserve {

// What a client's JSON body may cost once parsed (docs/design.md, "Bounds on
// what a client sends").
struct JsonLimits {
  // Arrays and objects open at once; the outermost value is depth 1.
  int max_depth = 64;
  // Values of any kind (numbers, strings, arrays, objects, keys not counted):
  // a parsed value costs about 16 bytes beside its text, so this bounds the
  // document at the body's bytes plus a few MiB.
  int64_t max_values = int64_t{1} << 16;
};

// Checks `text` against `limits` in one pass that builds nothing (a SAX walk,
// no recursion), and stops at the first value past a limit: INVALID_ARGUMENT
// naming the limit, or the parser's error for text that is not JSON.
absl::Status CheckJson(std::string_view text, const JsonLimits& limits = {});

// CheckJson, then the document. The document's depth is then at most
// `limits.max_depth`, so code that walks it recursively is bounded too.
absl::StatusOr<nlohmann::json> ParseBoundedJson(std::string_view text,
                                                const JsonLimits& limits = {});

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_BASE_BOUNDED_JSON_H_
