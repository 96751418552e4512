#include "server/runner/model_metadata.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/base/status_macros.h"

namespace gcnserve {
namespace {

using Json = nlohmann::json;

absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("gcnserve.json: field '", field, "' ", why));
}

// Reads `object[key]` into `out`, refusing a missing field or a wrong type.
template <typename T>
absl::Status Read(const Json& object, const char* key, T& out) {
  auto it = object.find(key);
  if (it == object.end()) return Invalid(key, "is missing");
  try {
    out = it->get<T>();
  } catch (const Json::exception& e) {
    return Invalid(key, absl::StrCat("has the wrong type: ", e.what()));
  }
  return absl::OkStatus();
}

absl::Status ParseInput(const Json& json, InputSpec& input) {
  if (!json.is_object()) return Invalid("input", "must be an object");
  GCN_RETURN_IF_ERROR(Read(json, "height", input.height));
  GCN_RETURN_IF_ERROR(Read(json, "width", input.width));
  GCN_RETURN_IF_ERROR(Read(json, "channels", input.channels));
  GCN_RETURN_IF_ERROR(Read(json, "color", input.color));
  GCN_RETURN_IF_ERROR(Read(json, "mean", input.mean));
  GCN_RETURN_IF_ERROR(Read(json, "std", input.std));
  GCN_RETURN_IF_ERROR(Read(json, "resize", input.resize));
  if (input.height < 1 || input.width < 1 || input.height > 4096 ||
      input.width > 4096) {
    return Invalid("input", "height and width must be in 1..4096");
  }
  if (input.color == "gray" ? input.channels != 1
      : input.color == "rgb" ? input.channels != 3
                             : true) {
    return Invalid("input.color",
                   "must be 'gray' with 1 channel or 'rgb' with 3 channels");
  }
  if (static_cast<int>(input.mean.size()) != input.channels ||
      static_cast<int>(input.std.size()) != input.channels) {
    return Invalid("input.mean/std", "must have one value per channel");
  }
  for (float s : input.std) {
    if (!(s > 0)) return Invalid("input.std", "values must be positive");
  }
  if (input.resize != "area_or_linear") {
    return Invalid("input.resize", "must be 'area_or_linear'");
  }
  return absl::OkStatus();
}

absl::Status ParseReference(const Json& json, int num_classes, bool has_graph,
                            DriftReference& reference) {
  if (!json.is_object()) return Invalid("reference", "must be an object");
  GCN_RETURN_IF_ERROR(Read(json, "images", reference.images));
  if (reference.images < 1) {
    return Invalid("reference.images", "must be positive");
  }
  auto signals = json.find("signals");
  if (signals == json.end() || !signals->is_object()) {
    return Invalid("reference.signals", "must be an object");
  }
  for (const auto& [name, value] : signals->items()) {
    std::optional<DriftSignal> signal = DriftSignalNamed(name);
    if (!signal) continue;  // a signal of a newer exporter
    const std::string field = absl::StrCat("reference.signals.", name);
    if (!value.is_object()) return Invalid(field, "must be an object");
    DriftReference::Signal parsed{*signal, {}, {}};
    GCN_RETURN_IF_ERROR(Read(value, "fractions", parsed.fractions));
    if (value.contains("edges")) {
      GCN_RETURN_IF_ERROR(Read(value, "edges", parsed.edges));
    }
    if (IsGraphSignal(*signal) && !has_graph) {
      return Invalid(field, "needs a model with a graph");
    }
    const size_t bins = *signal == DriftSignal::kPredictedClass
                            ? static_cast<size_t>(num_classes)
                            : parsed.edges.size() + 1;
    if (*signal == DriftSignal::kPredictedClass && !parsed.edges.empty()) {
      return Invalid(field, "has one bin per class and no edges");
    }
    if (parsed.fractions.size() != bins || bins > 4096) {
      return Invalid(field, absl::StrCat("needs ", bins,
                                         " fractions (at most 4096)"));
    }
    double sum = 0;
    for (double f : parsed.fractions) {
      if (!(f >= 0 && f <= 1)) return Invalid(field, "fractions must be in [0, 1]");
      sum += f;
    }
    if (std::abs(sum - 1) > 1e-6) return Invalid(field, "fractions must sum to 1");
    for (size_t i = 0; i < parsed.edges.size(); ++i) {
      if (!std::isfinite(parsed.edges[i]) ||
          (i > 0 && parsed.edges[i] < parsed.edges[i - 1])) {
        return Invalid(field, "edges must be finite and ascending");
      }
    }
    for (const DriftReference::Signal& seen : reference.signals) {
      if (seen.signal == *signal) return Invalid(field, "appears twice");
    }
    reference.signals.push_back(std::move(parsed));
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelMetadata> ParseJson(const Json& json) {
  if (!json.is_object()) {
    return absl::InvalidArgumentError("gcnserve.json: not a JSON object");
  }
  ModelMetadata meta;
  GCN_RETURN_IF_ERROR(Read(json, "name", meta.name));
  GCN_RETURN_IF_ERROR(Read(json, "architecture", meta.architecture));
  GCN_RETURN_IF_ERROR(Read(json, "labels", meta.labels));
  // Read wide: get<int> would wrap a larger number into range.
  int64_t num_points = 0;
  GCN_RETURN_IF_ERROR(Read(json, "num_points", num_points));
  if (num_points < 0 || num_points > ModelMetadata::kMaxPoints) {
    return Invalid("num_points",
                   absl::StrCat("must be in 0..", ModelMetadata::kMaxPoints,
                                " (0: a model without a graph)"));
  }
  meta.num_points = static_cast<int>(num_points);
  if (auto it = json.find("input"); it != json.end()) {
    GCN_RETURN_IF_ERROR(ParseInput(*it, meta.input));
  } else {
    return Invalid("input", "is missing");
  }
  if (json.contains("adjacency")) {
    GCN_RETURN_IF_ERROR(Read(json, "adjacency", meta.adjacency));
  }
  if (json.contains("dataset")) {
    GCN_RETURN_IF_ERROR(Read(json, "dataset", meta.dataset));
  }
  if (json.contains("metrics")) {
    const Json& metrics = json["metrics"];
    if (!metrics.is_object()) return Invalid("metrics", "must be an object");
    for (const auto& [key, value] : metrics.items()) {
      if (value.is_number()) meta.metrics[key] = value.get<double>();
    }
  }
  if (meta.architecture.empty()) {
    return Invalid("architecture", "must be a non-empty label");
  }
  if (meta.labels.empty()) return Invalid("labels", "must not be empty");
  if (meta.has_graph()) {
    if (meta.adjacency != "similarity" && meta.adjacency != "euclidean") {
      return Invalid("adjacency", "must be 'similarity' or 'euclidean'");
    }
  }
  if (auto it = json.find("calibration"); it != json.end()) {
    if (!it->is_object()) return Invalid("calibration", "must be an object");
    std::string method;
    GCN_RETURN_IF_ERROR(Read(*it, "method", method));
    if (method != "temperature") {
      return Invalid("calibration.method", "must be 'temperature'");
    }
    auto temperature = it->find("temperature");
    if (temperature == it->end() || !temperature->is_number() ||
        !std::isfinite(temperature->get<double>()) ||
        temperature->get<double>() <= 0) {
      return Invalid("calibration.temperature", "must be a positive number");
    }
    meta.temperature = temperature->get<double>();
  }
  if (auto it = json.find("reference"); it != json.end()) {
    DriftReference reference;
    GCN_RETURN_IF_ERROR(ParseReference(*it,
                                       static_cast<int>(meta.labels.size()),
                                       meta.has_graph(), reference));
    meta.reference = std::move(reference);
  }
  return meta;
}

}  // namespace

absl::StatusOr<ModelMetadata> ModelMetadata::Parse(std::string_view json) {
  Json parsed = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::InvalidArgumentError("gcnserve.json: not valid JSON");
  }
  return ParseJson(parsed);
}

}  // namespace gcnserve
