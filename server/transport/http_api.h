#ifndef GCNSERVE_SERVER_TRANSPORT_HTTP_API_H_
#define GCNSERVE_SERVER_TRANSPORT_HTTP_API_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gcnserve/v1/gcnserve.pb.h"
#include "server/base/call_context.h"
#include "server/base/clock.h"
#include "server/models/model_manager.h"
#include "server/monitoring/metrics.h"
#include "server/pipeline/pipeline.h"
#include "server/transport/http_server.h"

namespace gcnserve {

// The routes of the HTTP port, every one on the same Pipeline
// as gRPC (model look-up, checks, preprocess pool, batcher, metrics with
// protocol "http"):
//
//   GET  /                      the viewer (and /viewer.js, /viewer.css)
//   POST /v1/classify           image bytes + query parameters, or a
//                               ClassifyRequest in the proto3 JSON mapping;
//                               answers the ClassifyResponse in that mapping
//   GET  /v1/models             the ListModelsResponse
//   GET  /healthz, /readyz      up; ready (200 while serving, 503 otherwise)
//   GET  /v2, /v2/health/live, /v2/health/ready
//   GET  /v2/models/{name}[/versions/{v}][/ready]
//   POST /v2/models/{name}[/versions/{v}]/infer    (KServe v2, one BYTES input)
//
// Errors are {"code": <gRPC code>, "message": "..."} ({"error": "..."} on
// /v2, as the v2 protocol says) with grpc-gateway's HTTP status; the
// refusals a client may retry (UNAVAILABLE 503: a full queue, a drain;
// RESOURCE_EXHAUSTED 429) carry Retry-After. A Grpc-Timeout header ("500m",
// "2S") sets the request's deadline. Handle() never blocks: it answers the
// routes that need no model at once, and submits a classification to the
// pipeline, whose callback answers the exchange (the JSON is made on the
// transport's thread, not the batch thread's); a client that closes its
// connection meanwhile cancels it (Pipeline::Handle::Cancel), and the
// batcher drops it unrun as CANCELLED (counted so, protocol "http"). Every
// answer is
// counted once in gcnserve_requests_total (protocol "http"): those that reach
// the service by it, the rest here, under the model they name when it is
// known ("" otherwise, so clients cannot grow the label set), with the gRPC
// code of their HTTP status (CodeForHttpStatus). Thread-safe.
class HttpApi {
 public:
  // The service, models and clock outlive the API; `draining` says whether
  // the server has begun to drain (Server::draining).
  HttpApi(Pipeline* pipeline, const ModelManager* models, Metrics* metrics,
          Clock* clock, std::function<bool()> draining);

  // Answers the exchange, now or from the pipeline's callback (an
  // HttpServer::Handler).
  void Handle(std::shared_ptr<HttpExchange> exchange) const;

  // The HTTP status grpc-gateway gives a gRPC code (400, 404, 429, 503,
  // 504, 500...).
  static int HttpStatusFor(absl::StatusCode code);
  // The gRPC code an HTTP status stands for, for the metrics of answers
  // that never had one (405 UNIMPLEMENTED, 413 RESOURCE_EXHAUSTED...).
  static absl::StatusCode CodeForHttpStatus(int status);

 private:
  // What the metrics need to know of one request's answer.
  struct Counted {
    bool by_service = false;  // it reached the Pipeline, which counts
    // The model it asks for ("": the default), labelled by
    // ModelManager::MetricLabel; none for the routes outside the models.
    std::optional<std::string> model;
  };
  struct Call;
  // The answer, or none when the request went to the pipeline, whose
  // callback answers it.
  std::optional<HttpResponse> Route(
      const std::shared_ptr<HttpExchange>& exchange, Counted& counted) const;
  std::optional<HttpResponse> Classify(
      const std::shared_ptr<HttpExchange>& exchange, Counted& counted) const;
  HttpResponse Models() const;
  std::optional<HttpResponse> V2(const std::shared_ptr<HttpExchange>& exchange,
                                 Counted& counted) const;
  std::optional<HttpResponse> V2Model(
      const std::shared_ptr<HttpExchange>& exchange, const std::string& name,
      int64_t version, const std::string& action, Counted& counted) const;
  std::optional<HttpResponse> V2Infer(
      const std::shared_ptr<HttpExchange>& exchange,
      const std::shared_ptr<ServedModel>& model, Counted& counted) const;
  // Submits the call's requests at once, to `model` (null: the one each
  // names); once the last is answered, the exchange is answered with
  // call->answer of the first error (naming its image when there are more
  // than one), or OK. The client's leaving cancels them all. An error (a
  // bad Grpc-Timeout) when nothing was submitted.
  absl::Status Submit(std::shared_ptr<Call> call,
                      const std::shared_ptr<ServedModel>& model,
                      Counted& counted) const;
  // 200 while a model is ready and the server is not draining.
  bool Ready() const;

  Pipeline* const pipeline_;
  const ModelManager* const models_;
  Metrics* const metrics_;
  Clock* const clock_;
  const std::function<bool()> draining_;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_TRANSPORT_HTTP_API_H_
