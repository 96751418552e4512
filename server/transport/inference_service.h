#ifndef GCNSERVE_SERVER_TRANSPORT_INFERENCE_SERVICE_H_
#define GCNSERVE_SERVER_TRANSPORT_INFERENCE_SERVICE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "inference/grpc_service.grpc.pb.h"
#include "server/models/model_manager.h"
#include "server/monitoring/metrics.h"
#include "server/transport/classifier_service.h"

namespace gcnserve {

// The Open Inference Protocol's gRPC service (inference.GRPCInferenceService,
// KServe's and Triton's clients speak it) on the server's gRPC port, an
// adapter over the same Pipeline as gcnserve's own API and HTTP: decoding,
// batching, drain and metrics are the pipeline's
// (docs/design.md, "The Open Inference Protocol").
//
// A model has one input, `image`, BYTES of shape [N]: N encoded images
// (JPEG, PNG, WebP, BMP, TIFF, PNM), given as `contents.bytes_contents` or
// as the input's `raw_input_contents` (each element its 4-byte
// little-endian length, then its bytes). The answer has, for the N images,
// `probabilities` FP32 [N, classes] and, for a model with a graph, `points`
// FP32 [N, K, 2] (x, y in the pixels of the image sent), `point_scores`
// FP32 [N, K] and `adjacency` FP32 [N, K, K]; asked-for outputs only when
// the request names some; raw output contents when the input came raw. A
// shape that does not match the data, an unknown input, output or datatype
// is INVALID_ARGUMENT; an unknown model or version NOT_FOUND. The N images
// are N requests on the path (each counted in gcnserve_requests_total);
// the first that fails fails the call. Thread-safe; never blocks a gRPC
// thread.
class InferenceService final
    : public inference::GRPCInferenceService::CallbackService {
 public:
  // Everything passed outlives this; `draining` says whether the server has
  // begun to drain.
  InferenceService(Pipeline* pipeline, const ModelManager* models,
                   Metrics* metrics, Clock* clock, std::function<bool()> draining);

  grpc::ServerUnaryReactor* ServerLive(
      grpc::CallbackServerContext* context,
      const inference::ServerLiveRequest* request,
      inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(
      grpc::CallbackServerContext* context,
      const inference::ServerReadyRequest* request,
      inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(
      grpc::CallbackServerContext* context,
      const inference::ModelReadyRequest* request,
      inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(
      grpc::CallbackServerContext* context,
      const inference::ServerMetadataRequest* request,
      inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(
      grpc::CallbackServerContext* context,
      const inference::ModelMetadataRequest* request,
      inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(
      grpc::CallbackServerContext* context,
      const inference::ModelInferRequest* request,
      inference::ModelInferResponse* response) override;

  // The encoded images of a ModelInfer request's one input, checked against
  // its shape and datatype; INVALID_ARGUMENT saying what is wrong.
  static absl::StatusOr<std::vector<std::string>> Images(
      const inference::ModelInferRequest& request);

 private:
  struct Batch;
  // The version `name` and `version` ("" for the newest) ask for.
  absl::StatusOr<std::shared_ptr<ServedModel>> Find(
      const std::string& name, const std::string& version) const;

  Pipeline* const pipeline_;
  const ModelManager* const models_;
  Metrics* const metrics_;
  Clock* const clock_;
  const std::function<bool()> draining_;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_TRANSPORT_INFERENCE_SERVICE_H_
