#include "proto/graph_detail.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace gcnserve {

absl::StatusOr<v1::GraphDetail> ParseGraphDetail(absl::string_view text) {
  const std::string upper = absl::AsciiStrToUpper(text);
  v1::GraphDetail graph;
  if (v1::GraphDetail_Parse(upper, &graph) ||
      v1::GraphDetail_Parse("GRAPH_DETAIL_" + upper, &graph)) {
    return graph;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("graph='", text, "'; allowed: none, points, full"));
}

absl::string_view GraphDetailName(v1::GraphDetail graph) {
  switch (graph) {
    case v1::GRAPH_DETAIL_NONE:
      return "none";
    case v1::GRAPH_DETAIL_FULL:
      return "full";
    default:
      return "points";
  }
}

}  // namespace gcnserve
