#ifndef GCNSERVE_SERVER_PIPELINE_RESPONSE_BUILDER_H_
#define GCNSERVE_SERVER_PIPELINE_RESPONSE_BUILDER_H_

#include <vector>

#include "absl/status/status.h"
#include "gcnserve/v1/gcnserve.pb.h"
#include "server/runner/model_metadata.h"
#include "server/runner/model_runner.h"

namespace gcnserve {

// What a request asked to get back.
struct ResponseOptions {
  int top_k = 5;                 // classes, best first; capped at the labels
  v1::GraphDetail graph = v1::GRAPH_DETAIL_POINTS;
  int max_edges_per_node = 0;    // FULL only: per row, this many strongest
                                 // off-diagonal weights and the diagonal;
                                 // 0 keeps every weight
  int original_width = 0;        // the decoded image, for mapping points
  int original_height = 0;
};

// The longest request_id accepted, in bytes; every answer echoes it.
inline constexpr size_t kMaxRequestIdBytes = 256;

// Checks the request's own fields (top_k, graph, max_edges_per_node,
// request_id) and fills `options` from them; INVALID_ARGUMENT names the bad
// field.
absl::Status ReadResponseOptions(const v1::ClassifyRequest& request,
                                 ResponseOptions& options);

// Fills `response` with row `row` of `output`: the top classes with labels,
// the interest points mapped from input-tensor pixels to the original image's
// pixels, and the adjacency when FULL is asked.
void BuildResponse(const ModelMetadata& metadata, const ModelOutput& output,
                   int row, const ResponseOptions& options,
                   v1::ClassifyResponse& response);

// Images one Open Inference Protocol request may carry (REST and gRPC).
inline constexpr int64_t kMaxImagesPerRequest = 256;

// The answers to N images as the Open Inference Protocol's row-major
// [N, ...] tensors, row i image i's (its REST and gRPC adapters alike).
struct StackedAnswers {
  std::vector<float> probabilities;  // [N, classes], in class order
  std::vector<float> points;         // [N, K, 2]: x, y in the image's pixels
  std::vector<float> point_scores;   // [N, K]
  std::vector<float> adjacency;      // [N, K, K]
};
StackedAnswers StackAnswers(const v1::ClassifyResponse* answers, int n,
                            int classes);

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_PIPELINE_RESPONSE_BUILDER_H_
