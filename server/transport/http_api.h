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
// /v2, as the v2 protocol says) with grpc-gateway's HTTP status. A
// Grpc-Timeout header ("500m", "2S") sets the request's deadline. Handle()
// blocks until the answer is ready, which suits HttpServer's thread per
// connection, and meanwhile watches the request's socket (ConnectionWatch):
// a client that closes its connection cancels its call, which the batcher
// drops unrun as CANCELLED (counted so, protocol "http"). Every answer is
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

  HttpResponse Handle(const HttpRequest& request) const;

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
  HttpResponse Route(const HttpRequest& http, Counted& counted) const;
  HttpResponse Classify(const HttpRequest& http, Counted& counted) const;
  HttpResponse Models() const;
  HttpResponse V2(const HttpRequest& http, Counted& counted) const;
  HttpResponse V2Model(const HttpRequest& http, const std::string& name,
                       int64_t version, const std::string& action,
                       Counted& counted) const;
  HttpResponse V2Infer(const HttpRequest& http,
                       const std::shared_ptr<ServedModel>& model,
                       Counted& counted) const;
  // Submits `request` as an HTTP call and waits for its answer.
  absl::Status Run(const HttpRequest& http, const v1::ClassifyRequest& request,
                   v1::ClassifyResponse* response, Counted& counted) const;
  // Submits the `n` requests at once, to `model` (null: the one each names),
  // and waits for every answer; the first error (naming its image when
  // n > 1), or OK.
  absl::Status RunAll(const HttpRequest& http,
                      const std::shared_ptr<ServedModel>& model,
                      const v1::ClassifyRequest* requests,
                      v1::ClassifyResponse* responses, int n,
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
