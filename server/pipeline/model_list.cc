#include "server/pipeline/model_list.h"

#include <optional>
#include <string>

namespace gcnserve {

namespace {

// The wire's name for the server's own state.
v1::ModelState WireState(ModelState state) {
  switch (state) {
    case ModelState::kLoading:
      return v1::MODEL_STATE_LOADING;
    case ModelState::kReady:
      return v1::MODEL_STATE_READY;
    case ModelState::kFailed:
      return v1::MODEL_STATE_FAILED;
    case ModelState::kUnloading:
      return v1::MODEL_STATE_UNLOADING;
  }
  return v1::MODEL_STATE_UNSPECIFIED;
}

}  // namespace

void DescribeModels(const ModelManager& models,
                    v1::ListModelsResponse* response) {
  response->set_default_model(models.DefaultModel());
  for (const ModelManager::VersionInfo& info : models.List()) {
    v1::ModelVersion* out = response->add_models();
    out->set_name(info.name);
    out->set_version(info.version);
    out->set_state(WireState(info.state));
    out->set_state_reason(info.reason);
    out->set_serving_version(info.serving_version);
    if (!info.model) continue;
    const ModelMetadata& meta = info.model->metadata();
    out->set_architecture(meta.architecture);
    out->set_input_width(meta.input.width);
    out->set_input_height(meta.input.height);
    out->set_input_channels(meta.input.channels);
    for (const std::string& label : meta.labels) out->add_labels(label);
    out->set_num_points(meta.num_points);
    const Batcher::Options& batching = info.model->options().batching;
    out->set_max_batch_size(batching.max_batch_size);
    out->set_max_queue_delay_us(batching.max_queue_delay.count());
    out->set_max_queue_size(batching.max_queue_size);
    out->set_execution(info.model->options().execution);
    out->set_instances(info.model->instances());
    out->set_dataset(meta.dataset);
    out->set_digest(meta.digest);
    for (const auto& [key, value] : meta.metrics) {
      (*out->mutable_metrics())[key] = value;
    }
    if (DriftMonitor* drift = info.model->drift()) {
      v1::Drift* summary = out->mutable_drift();
      summary->set_has_reference(true);
      summary->set_min_requests(drift->options().min_requests);
      if (std::optional<DriftMonitor::Score> score = drift->Compute()) {
        summary->set_window_requests(score->requests);
        summary->set_scored(true);
        summary->set_score(score->max);
      } else {
        summary->set_window_requests(drift->Requests());
      }
    }
  }
}

}  // namespace gcnserve
