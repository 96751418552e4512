#ifndef GCNSERVE_SERVER_RUNNER_MODEL_METADATA_H_
#define GCNSERVE_SERVER_RUNNER_MODEL_METADATA_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "server/runner/drift_reference.h"

namespace gcnserve {

// How a model wants its input: the `input` object of gcnserve.json.
struct InputSpec {
  int height = 0;
  int width = 0;
  int channels = 0;           // 1 (gray) or 3 (rgb)
  std::string color;          // "gray" or "rgb"
  std::vector<float> mean;    // one per channel, on [0, 1] pixel values
  std::vector<float> std;     // one per channel, > 0
  std::string resize = "area_or_linear";  // the one rule both sides implement
};

// The metadata an export carries inside model.pt as the extra file
// gcnserve.json (docs/design.md, "The export contract"). The server reads a
// model's nature from it, never from its name: a model returns a graph when
// num_points > 0; the architecture is a label it shows.
struct ModelMetadata {
  // The most interest points a model may have: its adjacency is K x K
  // floats per image (4 MiB at this bound; the report's models have 120).
  static constexpr int kMaxPoints = 1024;

  std::string name;
  std::string architecture;  // a label (model1, model2, model3, resnet, ...)
  InputSpec input;
  std::vector<std::string> labels;
  int num_points = 0;        // 0 for a model without a graph
  std::string adjacency;     // similarity | euclidean; empty without a graph
  std::string dataset;
  std::map<std::string, double> metrics;
  // Optional: the drift reference; without it the version is served without
  // drift metrics. Unknown signal names in it are skipped.
  std::optional<DriftReference> reference;
  // Optional "calibration": {"method": "temperature", "temperature": T, ...}
  // fitted on the validation split (model/gcnserve_model/calibration.py);
  // the probabilities served are softmax(logits / temperature). 1 without.
  double temperature = 1.0;
  // Not in gcnserve.json: the short SHA-256 of the model.pt it came from
  // (ShortFileDigest), set by the loader; empty when not known.
  std::string digest;

  bool has_graph() const { return num_points > 0; }

  // Parses and checks gcnserve.json; the error names the offending field.
  static absl::StatusOr<ModelMetadata> Parse(std::string_view json);
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_RUNNER_MODEL_METADATA_H_
