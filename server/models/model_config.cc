#include "server/models/model_config.h"

#include <algorithm>
#include <functional>
#include <map>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace gcnserve {
namespace {

using Json = nlohmann::json;

absl::Status Bad(const std::string& path, const std::string& key,
                 const std::string& allowed) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": key '", key, "': ", allowed));
}

// Reads an integer in [min, max] or says what is allowed.
absl::Status ReadInt(const Json& value, const std::string& path,
                     const std::string& key, int64_t min, int64_t max,
                     int64_t& out) {
  if (!value.is_number_integer() || value.get<int64_t>() < min ||
      value.get<int64_t>() > max) {
    return Bad(path, key, absl::StrCat("must be an integer from ", min, " to ", max));
  }
  out = value.get<int64_t>();
  return absl::OkStatus();
}

// Reads true or false or says what is allowed.
absl::Status ReadBool(const Json& value, const std::string& path,
                      const std::string& key, bool& out) {
  if (!value.is_boolean()) return Bad(path, key, "must be true or false");
  out = value.get<bool>();
  return absl::OkStatus();
}

absl::Status ReadPolicy(const Json& value, const std::string& path,
                        ModelConfig& config) {
  const std::string key = "version_policy";
  if (!value.is_object() || value.size() != 1) {
    return Bad(path, key, R"(must be {"latest": N} or {"versions": [..]})");
  }
  if (value.contains("latest")) {
    int64_t latest;
    absl::Status s = ReadInt(value["latest"], path, key + ".latest", 1, 100, latest);
    if (!s.ok()) return s;
    config.latest = static_cast<int>(latest);
    config.versions.clear();
    return absl::OkStatus();
  }
  if (value.contains("versions") && value["versions"].is_array() &&
      !value["versions"].empty()) {
    config.versions.clear();
    for (const Json& v : value["versions"]) {
      int64_t version;
      absl::Status s = ReadInt(v, path, key + ".versions", 1, INT64_MAX, version);
      if (!s.ok()) return s;
      config.versions.push_back(version);
    }
    return absl::OkStatus();
  }
  return Bad(path, key, R"(must be {"latest": N} or {"versions": [..]})");
}

}  // namespace

absl::StatusOr<ModelConfig> ModelConfig::Parse(const std::string& json,
                                               const std::string& path,
                                               const ModelConfig& defaults) {
  Json parsed = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a JSON object"));
  }
  ModelConfig config = defaults;
  for (const auto& [key, value] : parsed.items()) {
    int64_t n = 0;
    absl::Status status;
    if (key == "max_batch_size") {
      status = ReadInt(value, path, key, 0, 256, n);  // 0: chosen at load
      config.batching.max_batch_size = static_cast<int>(n);
    } else if (key == "max_queue_delay_us") {
      status = ReadInt(value, path, key, 0, 10'000'000, n);
      config.batching.max_queue_delay = std::chrono::microseconds(n);
    } else if (key == "max_queue_size") {
      status = ReadInt(value, path, key, 1, 1'000'000, n);
      config.batching.max_queue_size = static_cast<int>(n);
    } else if (key == "instances") {
      status = ReadInt(value, path, key, 1, 64, n);
      config.instances = static_cast<int>(n);
    } else if (key == "intra_op_threads") {
      status = ReadInt(value, path, key, 0, 1024, n);
      config.intra_op_threads = static_cast<int>(n);
    } else if (key == "device") {
      if (!value.is_string() || !IsDeviceName(value.get<std::string>())) {
        status = Bad(path, key, "must be \"cpu\", \"cuda\" or \"cuda:N\"");
      } else {
        config.device = value.get<std::string>();
      }
    } else if (key == "optimize") {
      status = ReadBool(value, path, key, config.optimize);
    } else if (key == "version_policy") {
      status = ReadPolicy(value, path, config);
    } else if (key == "default") {
      status = ReadBool(value, path, key, config.is_default);
    } else {
      status = Bad(path, key,
                   "unknown; allowed keys: max_batch_size, max_queue_delay_us, "
                   "max_queue_size, instances, intra_op_threads, device, "
                   "optimize, version_policy, default");
    }
    if (!status.ok()) return status;
  }
  return config;
}

int ModelConfig::Instances(int cores) const {
  if (instances > 0) return instances;
  return device == "cpu" ? std::max(1, cores) : 1;
}

int ModelConfig::ThreadsPerInstance(int cores) const {
  if (intra_op_threads > 0) return intra_op_threads;
  return std::max(1, cores / Instances(cores));
}

bool IsDeviceName(const std::string& device) {
  if (device == "cpu" || device == "cuda") return true;
  return device.rfind("cuda:", 0) == 0 && device.size() > 5 &&
         std::all_of(device.begin() + 5, device.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

std::vector<int64_t> ModelConfig::Candidates(std::vector<int64_t> on_disk) const {
  std::sort(on_disk.begin(), on_disk.end(), std::greater<int64_t>());
  if (versions.empty()) return on_disk;
  std::vector<int64_t> chosen;
  for (int64_t v : on_disk) {
    if (std::find(versions.begin(), versions.end(), v) != versions.end()) {
      chosen.push_back(v);
    }
  }
  return chosen;
}

int ModelConfig::Wanted(int candidates) const {
  return versions.empty() ? std::min(latest, candidates) : candidates;
}

std::vector<std::string> ModelConfig::LoadChanges(const ModelConfig& other) const {
  std::vector<std::string> changes;
  auto note = [&](const char* key, const auto& from, const auto& to) {
    if (from != to) changes.push_back(absl::StrCat(key, " ", from, " -> ", to));
  };
  note("max_batch_size", batching.max_batch_size, other.batching.max_batch_size);
  note("max_queue_delay_us", batching.max_queue_delay.count(),
       other.batching.max_queue_delay.count());
  note("max_queue_size", batching.max_queue_size, other.batching.max_queue_size);
  note("batch_idle_spin_us", batching.idle_spin.count(),
       other.batching.idle_spin.count());
  note("instances", instances, other.instances);
  note("intra_op_threads", intra_op_threads, other.intra_op_threads);
  note("device", device, other.device);
  note("optimize", std::string(optimize ? "true" : "false"),
       std::string(other.optimize ? "true" : "false"));
  return changes;
}

}  // namespace gcnserve
