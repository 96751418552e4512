#include "server/transport/inference_service.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/base/bounded_text.h"
#include "server/models/model_repository.h"
#include "server/pipeline/response_builder.h"

#ifndef GCNSERVE_VERSION
#define GCNSERVE_VERSION "0.0.0"
#endif

namespace gcnserve {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;

constexpr const char* kOutputs[] = {"probabilities", "points", "point_scores",
                                    "adjacency"};

grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* context,
                                 const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// Appends `values` to the output `name` of `response`, shaped `shape`: in
// raw_output_contents (little-endian floats) or in contents.
void AddOutput(const std::string& name, std::vector<int64_t> shape,
               const std::vector<float>& values, bool raw,
               ModelInferResponse* response) {
  ModelInferResponse::InferOutputTensor* out = response->add_outputs();
  out->set_name(name);
  out->set_datatype("FP32");
  for (int64_t dim : shape) out->add_shape(dim);
  if (raw) {
    std::string* bytes = response->add_raw_output_contents();
    bytes->resize(values.size() * sizeof(float));
    std::memcpy(bytes->data(), values.data(), bytes->size());  // x86: little-endian
  } else {
    out->mutable_contents()->mutable_fp32_contents()->Add(values.begin(),
                                                          values.end());
  }
}

}  // namespace

// The N images of one ModelInfer, each a request on the path, and the
// answer once the last is done.
struct InferenceService::Batch {
  std::shared_ptr<ServedModel> model;
  const ModelInferRequest* request = nullptr;
  ModelInferResponse* response = nullptr;
  CancellingReactor* reactor = nullptr;
  std::vector<std::string> wanted;  // the outputs to answer with
  bool raw = false;
  std::vector<v1::ClassifyRequest> items;   // sized once: Submit keeps pointers
  std::vector<v1::ClassifyResponse> answers;
  std::mutex mu;
  int remaining = 0;
  absl::Status first_error;  // guarded by mu

  bool Wants(const std::string& name) const {
    return std::find(wanted.begin(), wanted.end(), name) != wanted.end();
  }
  void Done(int index, const absl::Status& status) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!status.ok() && first_error.ok()) {
        first_error = absl::Status(
            status.code(), absl::StrCat("image ", index, ": ", status.message()));
      }
      if (--remaining > 0) return;
    }
    if (first_error.ok()) Respond();
    reactor->Finish(ToGrpcStatus(first_error));
  }
  void Respond() {
    const gcnserve::ModelMetadata& meta = model->metadata();
    const int64_t n = static_cast<int64_t>(answers.size());
    const int64_t classes = static_cast<int64_t>(meta.labels.size());
    response->set_model_name(model->name());
    response->set_model_version(absl::StrCat(model->version()));
    response->set_id(request->id());
    (*response->mutable_parameters())["model_digest"].set_string_param(
        meta.digest);
    StackedAnswers stacked =
        StackAnswers(answers.data(), static_cast<int>(n), static_cast<int>(classes));
    const int64_t k = meta.num_points;
    for (const std::string& name : wanted) {
      if (name == "probabilities") {
        AddOutput(name, {n, classes}, stacked.probabilities, raw, response);
      } else if (name == "points") {
        AddOutput(name, {n, k, 2}, stacked.points, raw, response);
      } else if (name == "point_scores") {
        AddOutput(name, {n, k}, stacked.point_scores, raw, response);
      } else if (name == "adjacency") {
        AddOutput(name, {n, k, k}, stacked.adjacency, raw, response);
      }
    }
  }
};

InferenceService::InferenceService(Pipeline* pipeline,
                                   const ModelManager* models, Metrics* metrics,
                                   Clock* clock, std::function<bool()> draining)
    : pipeline_(pipeline),
      models_(models),
      metrics_(metrics),
      clock_(clock),
      draining_(std::move(draining)) {}

absl::StatusOr<std::shared_ptr<ServedModel>> InferenceService::Find(
    const std::string& name, const std::string& version) const {
  if (name.empty()) {
    return absl::InvalidArgumentError("the request names no model");
  }
  int64_t number = 0;
  if (!version.empty() && !ParseVersionFolder(version, &number)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model version '", EchoText(version),
        "' is not a version: a positive integer in decimal, or empty for the newest"));
  }
  return models_->Find(name, number);
}

grpc::ServerUnaryReactor* InferenceService::ServerLive(
    grpc::CallbackServerContext* context, const inference::ServerLiveRequest*,
    inference::ServerLiveResponse* response) {
  response->set_live(true);
  return Answer(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ServerReady(
    grpc::CallbackServerContext* context, const inference::ServerReadyRequest*,
    inference::ServerReadyResponse* response) {
  response->set_ready(!draining_() && models_->AnyReady());
  return Answer(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ModelReady(
    grpc::CallbackServerContext* context,
    const inference::ModelReadyRequest* request,
    inference::ModelReadyResponse* response) {
  absl::StatusOr<std::shared_ptr<ServedModel>> model =
      Find(request->name(), request->version());
  if (!model.ok() && model.status().code() != absl::StatusCode::kUnavailable) {
    return Answer(context, model.status());  // unknown: NOT_FOUND
  }
  response->set_ready(model.ok() && !draining_());
  return Answer(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ServerMetadata(
    grpc::CallbackServerContext* context, const inference::ServerMetadataRequest*,
    inference::ServerMetadataResponse* response) {
  response->set_name("gcnserve");
  response->set_version(GCNSERVE_VERSION);
  return Answer(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ModelMetadata(
    grpc::CallbackServerContext* context,
    const inference::ModelMetadataRequest* request,
    inference::ModelMetadataResponse* response) {
  absl::StatusOr<std::shared_ptr<ServedModel>> model =
      Find(request->name(), request->version());
  if (!model.ok()) return Answer(context, model.status());
  const gcnserve::ModelMetadata& meta = (*model)->metadata();
  response->set_name((*model)->name());
  response->set_platform("pytorch_torchscript");
  if (!request->version().empty()) {
    response->add_versions(request->version());
  } else {
    for (const ModelManager::VersionInfo& info : models_->List()) {
      if (info.name == (*model)->name() && info.state == ModelState::kReady) {
        response->add_versions(absl::StrCat(info.version));
      }
    }
  }
  auto tensor = [](auto* list, const char* name, const char* type,
                   std::vector<int64_t> shape) {
    auto* t = list->Add();
    t->set_name(name);
    t->set_datatype(type);
    for (int64_t dim : shape) t->add_shape(dim);
  };
  const int64_t classes = static_cast<int64_t>(meta.labels.size());
  const int64_t k = meta.num_points;
  tensor(response->mutable_inputs(), "image", "BYTES", {-1});
  tensor(response->mutable_outputs(), "probabilities", "FP32", {-1, classes});
  if (meta.has_graph()) {
    tensor(response->mutable_outputs(), "points", "FP32", {-1, k, 2});
    tensor(response->mutable_outputs(), "point_scores", "FP32", {-1, k});
    tensor(response->mutable_outputs(), "adjacency", "FP32", {-1, k, k});
  }
  return Answer(context, absl::OkStatus());
}

absl::StatusOr<std::vector<std::string>> InferenceService::Images(
    const ModelInferRequest& request) {
  if (request.inputs_size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the request has ", request.inputs_size(),
        " inputs; the model has one, 'image' (BYTES [N]: N encoded images)"));
  }
  const ModelInferRequest::InferInputTensor& input = request.inputs(0);
  const std::string name = EchoText(input.name());
  if (input.name() != "image") {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown input '", name, "'; the model's input is 'image'"));
  }
  if (input.datatype() != "BYTES") {
    return absl::InvalidArgumentError(absl::StrCat(
        "input 'image' has datatype '", EchoText(input.datatype()),
        "'; allowed: BYTES (encoded images)"));
  }
  int64_t elements = 1;
  for (int64_t dim : input.shape()) {
    if (dim < 0) {
      return absl::InvalidArgumentError(
          "input 'image': a shape lists non-negative integers");
    }
    if (dim > 0 && elements > kMaxImagesPerRequest / dim) elements = kMaxImagesPerRequest + 1;
    else elements *= dim;
  }
  if (input.shape_size() == 0) {
    return absl::InvalidArgumentError(
        "input 'image' has no shape; N images are shape [N]");
  }
  if (elements > kMaxImagesPerRequest) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input 'image' holds more than the ", kMaxImagesPerRequest,
        " images a request may carry"));
  }
  std::vector<std::string> images;
  const bool typed = input.contents().bytes_contents_size() > 0;
  if (typed && request.raw_input_contents_size() > 0) {
    return absl::InvalidArgumentError(
        "input 'image' has both contents and raw_input_contents; give one");
  }
  if (request.raw_input_contents_size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "raw_input_contents holds ", request.raw_input_contents_size(),
        " entries for one input"));
  }
  if (typed) {
    images.assign(input.contents().bytes_contents().begin(),
                  input.contents().bytes_contents().end());
  } else if (request.raw_input_contents_size() == 1) {
    const std::string& raw = request.raw_input_contents(0);
    size_t pos = 0;
    while (pos < raw.size()) {
      if (raw.size() - pos < 4 ||
          static_cast<int64_t>(images.size()) >= kMaxImagesPerRequest) {
        return absl::InvalidArgumentError(absl::StrCat(
            "raw_input_contents of 'image' is cut: element ", images.size(),
            " at byte ", pos, " has no whole 4-byte length"));
      }
      const auto* b = reinterpret_cast<const unsigned char*>(raw.data() + pos);
      const uint64_t length = b[0] | b[1] << 8 | b[2] << 16 |
                              static_cast<uint64_t>(b[3]) << 24;
      pos += 4;
      if (length > raw.size() - pos) {
        return absl::InvalidArgumentError(absl::StrCat(
            "raw_input_contents of 'image': element ", images.size(),
            " says ", length, " bytes, but ", raw.size() - pos, " remain"));
      }
      images.emplace_back(raw, pos, length);
      pos += length;
    }
  }
  if (static_cast<int64_t>(images.size()) != elements) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input 'image' holds ", images.size(), " elements where its shape says ",
        elements));
  }
  if (images.empty()) {
    return absl::InvalidArgumentError("input 'image' holds no image");
  }
  return images;
}

grpc::ServerUnaryReactor* InferenceService::ModelInfer(
    grpc::CallbackServerContext* context, const ModelInferRequest* request,
    ModelInferResponse* response) {
  auto refuse = [&](const absl::Status& status) {
    metrics_->CountRequest(models_->MetricLabel(request->model_name()),
                           status.code(), "grpc");
    return Answer(context, status);
  };
  absl::StatusOr<std::shared_ptr<ServedModel>> model =
      Find(request->model_name(), request->model_version());
  if (!model.ok()) return refuse(model.status());
  absl::StatusOr<std::vector<std::string>> images = Images(*request);
  if (!images.ok()) return refuse(images.status());
  const gcnserve::ModelMetadata& meta = (*model)->metadata();

  auto batch = std::make_shared<Batch>();
  for (const auto& output : request->outputs()) {
    bool known = output.name() == "probabilities" ||
                 (meta.has_graph() && std::find(std::begin(kOutputs), std::end(kOutputs),
                                                output.name()) != std::end(kOutputs));
    if (!known) {
      return refuse(absl::InvalidArgumentError(absl::StrCat(
          "unknown output '", EchoText(output.name()), "'; model '",
          (*model)->name(), "' has probabilities",
          meta.has_graph() ? ", points, point_scores and adjacency" : "")));
    }
    if (!batch->Wants(output.name())) batch->wanted.push_back(output.name());
  }
  if (batch->wanted.empty()) {
    batch->wanted.push_back("probabilities");
    if (meta.has_graph()) {
      batch->wanted.insert(batch->wanted.end(), {"points", "point_scores", "adjacency"});
    }
  }
  batch->model = *model;
  batch->request = request;
  batch->response = response;
  batch->raw = request->raw_input_contents_size() > 0;
  batch->reactor = new CancellingReactor;
  const v1::GraphDetail graph =
      !meta.has_graph()           ? v1::GRAPH_DETAIL_NONE
      : batch->Wants("adjacency") ? v1::GRAPH_DETAIL_FULL
      : batch->Wants("points") || batch->Wants("point_scores")
          ? v1::GRAPH_DETAIL_POINTS
          : v1::GRAPH_DETAIL_NONE;
  const int n = static_cast<int>(images->size());
  batch->items.resize(n);
  batch->answers.resize(n);
  batch->remaining = n;
  for (int i = 0; i < n; ++i) {
    v1::ClassifyRequest& item = batch->items[i];
    item.set_image(std::move((*images)[i]));
    item.set_top_k(static_cast<int32_t>(meta.labels.size()));
    item.set_graph(graph);
    item.set_request_id(request->id().substr(0, kMaxRequestIdBytes));
  }
  CancellingReactor* reactor = batch->reactor;
  const CallContext call = GrpcCallContext(context, clock_);
  for (int i = 0; i < n; ++i) {
    reactor->Track(pipeline_->Submit(call, batch->model, &batch->items[i],
                                     &batch->answers[i],
                                     [batch, i](const absl::Status& status) {
                                       batch->Done(i, status);
                                     }));
  }
  return reactor;
}

}  // namespace gcnserve
