#include "server/model_metadata.h"

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/status_macros.h"

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
