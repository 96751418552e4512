#include "server/pipeline/response_builder.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"

namespace gcnserve {

constexpr int kMaxTopK = 1000;

absl::Status ReadResponseOptions(const v1::ClassifyRequest& request,
                                 ResponseOptions& options) {
  if (request.top_k() < 0 || request.top_k() > kMaxTopK) {
    return absl::InvalidArgumentError(absl::StrCat(
        "top_k is ", request.top_k(), "; allowed: 0 (means 5) to ", kMaxTopK));
  }
  options.top_k = request.top_k() == 0 ? 5 : request.top_k();
  switch (request.graph()) {
    case v1::GRAPH_DETAIL_UNSPECIFIED:
    case v1::GRAPH_DETAIL_POINTS:
      options.graph = v1::GRAPH_DETAIL_POINTS;
      break;
    case v1::GRAPH_DETAIL_NONE:
    case v1::GRAPH_DETAIL_FULL:
      options.graph = request.graph();
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "graph is ", request.graph(), "; allowed: GRAPH_DETAIL_NONE, GRAPH_DETAIL_POINTS or GRAPH_DETAIL_FULL"));
  }
  if (request.max_edges_per_node() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_edges_per_node is ", request.max_edges_per_node(),
                     "; allowed: 0 (every edge) or more"));
  }
  options.max_edges_per_node = request.max_edges_per_node();
  if (request.request_id().size() > kMaxRequestIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("request_id is ", request.request_id().size(),
                     " bytes; allowed: at most ", kMaxRequestIdBytes));
  }
  return absl::OkStatus();
}

namespace {

void AddTopClasses(const ModelMetadata& metadata, const float* probabilities,
                   int classes, int top_k, v1::ClassifyResponse& response) {
  std::vector<int> order(classes);
  std::iota(order.begin(), order.end(), 0);
  int n = std::min(top_k, classes);
  std::partial_sort(order.begin(), order.begin() + n, order.end(),
                    [&](int a, int b) {
                      return probabilities[a] > probabilities[b] ||
                             (probabilities[a] == probabilities[b] && a < b);
                    });
  for (int i = 0; i < n; ++i) {
    v1::ClassScore* score = response.add_classes();
    score->set_index(order[i]);
    score->set_label(metadata.labels[order[i]]);
    score->set_probability(probabilities[order[i]]);
  }
}

// Copies a K x K adjacency, keeping each row's `keep` largest off-diagonal
// weights (and the diagonal) when keep > 0.
void AddAdjacency(const float* weights, int k, int keep,
                  v1::Adjacency& adjacency) {
  adjacency.set_size(k);
  auto* out = adjacency.mutable_weights();
  out->Resize(static_cast<int>(static_cast<int64_t>(k) * k), 0.0f);
  std::vector<int> order(k);
  for (int i = 0; i < k; ++i) {
    const float* row = weights + static_cast<size_t>(i) * k;
    float* dst = out->mutable_data() + static_cast<size_t>(i) * k;
    if (keep <= 0 || keep >= k - 1) {
      std::copy(row, row + k, dst);
      continue;
    }
    order.clear();
    for (int j = 0; j < k; ++j) {
      if (j != i) order.push_back(j);
    }
    std::partial_sort(order.begin(), order.begin() + keep, order.end(),
                      [&](int a, int b) { return row[a] > row[b]; });
    for (int e = 0; e < keep; ++e) dst[order[e]] = row[order[e]];
    dst[i] = row[i];
  }
}

}  // namespace

void BuildResponse(const ModelMetadata& metadata, const ModelOutput& output,
                   int row, const ResponseOptions& options,
                   v1::ClassifyResponse& response) {
  AddTopClasses(metadata,
                output.probabilities.data() +
                    static_cast<size_t>(row) * output.classes,
                output.classes, options.top_k, response);
  response.set_image_width(options.original_width);
  response.set_image_height(options.original_height);
  const int k = output.points;
  if (options.graph == v1::GRAPH_DETAIL_NONE || k == 0) return;

  const float sx = static_cast<float>(options.original_width) /
                   static_cast<float>(metadata.input.width);
  const float sy = static_cast<float>(options.original_height) /
                   static_cast<float>(metadata.input.height);
  const size_t base = static_cast<size_t>(row) * k;
  for (int i = 0; i < k; ++i) {
    v1::InterestPoint* point = response.add_points();
    point->set_x(output.point_xy[(base + i) * 2] * sx);
    point->set_y(output.point_xy[(base + i) * 2 + 1] * sy);
    point->set_score(output.point_scores[base + i]);
    point->set_level(static_cast<int32_t>(output.point_levels[base + i]));
  }
  if (options.graph == v1::GRAPH_DETAIL_FULL) {
    AddAdjacency(output.adjacency.data() + base * k, k,
                 options.max_edges_per_node, *response.mutable_adjacency());
  }
}

StackedAnswers StackAnswers(const v1::ClassifyResponse* answers, int n,
                            int classes) {
  StackedAnswers out;
  out.probabilities.assign(static_cast<size_t>(n) * classes, 0.0f);
  for (int i = 0; i < n; ++i) {
    const v1::ClassifyResponse& answer = answers[i];
    for (const v1::ClassScore& score : answer.classes()) {
      out.probabilities[static_cast<size_t>(i) * classes + score.index()] =
          score.probability();
    }
    for (const v1::InterestPoint& point : answer.points()) {
      out.points.push_back(point.x());
      out.points.push_back(point.y());
      out.point_scores.push_back(point.score());
    }
    const auto& weights = answer.adjacency().weights();
    out.adjacency.insert(out.adjacency.end(), weights.begin(), weights.end());
  }
  return out;
}

}  // namespace gcnserve
