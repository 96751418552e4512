#ifndef GCNSERVE_PROTO_GRAPH_DETAIL_H_
#define GCNSERVE_PROTO_GRAPH_DETAIL_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gcnserve/v1/gcnserve.pb.h"

namespace gcnserve {

// The text names of v1::GraphDetail, the one parser of them: the HTTP API's
// `graph` query parameter and gcnctl's --graph.
//
// "none", "points" or "full", in any case; the enum's own names are taken
// too, with or without their prefix ("GRAPH_DETAIL_FULL", "unspecified",
// which the server reads as points). Anything else is INVALID_ARGUMENT:
// "graph='some'; allowed: none, points, full".
absl::StatusOr<v1::GraphDetail> ParseGraphDetail(absl::string_view text);

// "none", "points" or "full"; UNSPECIFIED is "points", as the server reads
// it.
absl::string_view GraphDetailName(v1::GraphDetail graph);

}  // namespace gcnserve

#endif  // GCNSERVE_PROTO_GRAPH_DETAIL_H_
