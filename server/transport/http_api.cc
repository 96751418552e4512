#include "server/transport/http_api.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "proto/graph_detail.h"
#include "server/base/bounded_json.h"
#include "server/base/bounded_text.h"
#include "server/pipeline/model_list.h"
#include "server/pipeline/response_builder.h"
#include "server/transport/viewer_assets.h"

#ifndef GCNSERVE_VERSION
#define GCNSERVE_VERSION "0.0.0"
#endif

namespace gcnserve {
namespace {

using json = nlohmann::json;

// Text for a client: bytes that are not UTF-8 (a path, a model name) are
// replaced, never thrown about.
std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

HttpResponse Json(int status, std::string body) {
  return {status, "application/json", std::move(body)};
}

// An error's answer with its status; refusals a client may retry (a full
// queue's UNAVAILABLE, RESOURCE_EXHAUSTED) say when.
HttpResponse ErrorAnswer(const absl::Status& status, std::string body) {
  HttpResponse answer = Json(HttpApi::HttpStatusFor(status.code()), std::move(body));
  if (status.code() == absl::StatusCode::kUnavailable ||
      status.code() == absl::StatusCode::kResourceExhausted) {
    answer.headers.emplace_back("Retry-After",
                                absl::StrCat(HttpServer::kRetryAfterSeconds));
  }
  return answer;
}

HttpResponse Error(const absl::Status& status) {
  return ErrorAnswer(status, HttpServer::ErrorBody(static_cast<int>(status.code()),
                                                   std::string(status.message())));
}

// The v2 protocol's error shape: {"error": "..."}.
HttpResponse V2Error(const absl::Status& status) {
  return ErrorAnswer(status, Dump(json{{"error", std::string(status.message())}}));
}

HttpResponse Proto(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) {
    return Error(absl::InternalError(std::string(status.message())));
  }
  return Json(200, std::move(out));
}

// 405, in the error shape of gcnserve's API or of v2.
HttpResponse MethodNotAllowed(const HttpRequest& http, const char* allowed,
                              bool v2) {
  std::string message = absl::StrCat(EchoText(http.method), " ", EchoText(http.path),
                                     " is not served; use ", allowed);
  return Json(405, v2 ? Dump(json{{"error", message}})
                      : HttpServer::ErrorBody(
                            static_cast<int>(absl::StatusCode::kUnimplemented),
                            message));
}

bool IsGet(const HttpRequest& http) {
  return http.method == "GET" || http.method == "HEAD";
}

// A Grpc-Timeout header ("100m", "5S": up to 8 digits and a unit of H, M, S,
// m, u or n, as gRPC's HTTP/2 protocol defines it) as a deadline on `now`'s
// clock; max() (no deadline) when absent, and when the timeout reaches past
// what the clock can hold: the largest, 99999999H, is 11,000 years.
absl::StatusOr<Clock::TimePoint> Deadline(const std::string& header,
                                          Clock::TimePoint now) {
  if (header.empty()) return Clock::TimePoint::max();
  const absl::string_view digits(header.data(), header.size() - 1);
  int64_t amount = 0;
  if (header.size() < 2 || header.size() > 9 ||
      !std::all_of(digits.begin(), digits.end(),
                   [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(digits, &amount)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Grpc-Timeout is '", EchoText(header),
        "'; allowed: 1 to 8 digits and a unit H, M, S, m, u or n"));
  }
  int64_t unit_ns;
  switch (header.back()) {
    case 'H': unit_ns = int64_t{3600} * 1'000'000'000; break;
    case 'M': unit_ns = int64_t{60} * 1'000'000'000; break;
    case 'S': unit_ns = 1'000'000'000; break;
    case 'm': unit_ns = 1'000'000; break;
    case 'u': unit_ns = 1'000; break;
    case 'n': unit_ns = 1; break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "Grpc-Timeout is '", EchoText(header),
          "'; its unit must be H, M, S, m, u or n"));
  }
  using std::chrono::nanoseconds;
  const int64_t headroom_ns =
      std::chrono::duration_cast<nanoseconds>(Clock::TimePoint::max() - now)
          .count();
  if (amount > headroom_ns / unit_ns) return Clock::TimePoint::max();
  return now + std::chrono::duration_cast<Clock::Duration>(
                   nanoseconds(amount * unit_ns));
}

absl::Status ReadInt(const std::string& name, const std::string& value,
                     int64_t* out) {
  if (!absl::SimpleAtoi(value, out)) {
    return absl::InvalidArgumentError(
        absl::StrCat("query parameter ", name, "='", value, "' is not an integer"));
  }
  return absl::OkStatus();
}

// A ClassifyRequest from image bytes and the query parameters.
absl::StatusOr<v1::ClassifyRequest> RequestFromQuery(const HttpRequest& http) {
  v1::ClassifyRequest request;
  request.set_image(http.body);
  for (const auto& [name, value] : http.query) {
    int64_t number = 0;
    if (name == "model") {
      request.set_model(value);
    } else if (name == "request_id") {
      request.set_request_id(value);
    } else if (name == "graph") {
      absl::StatusOr<v1::GraphDetail> graph = ParseGraphDetail(value);
      if (!graph.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("query parameter ", graph.status().message()));
      }
      request.set_graph(*graph);
    } else if (name == "version" || name == "top_k" ||
               name == "max_edges_per_node") {
      if (absl::Status s = ReadInt(name, value, &number); !s.ok()) return s;
      if (name == "version") {
        if (number < 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "query parameter version=", number, "; allowed: 0 (newest) or more"));
        }
        request.set_version(number);
      } else if (number < INT32_MIN || number > INT32_MAX) {
        return absl::InvalidArgumentError(
            absl::StrCat("query parameter ", name, "=", number, " is out of range"));
      } else if (name == "top_k") {
        request.set_top_k(static_cast<int32_t>(number));
      } else {
        request.set_max_edges_per_node(static_cast<int32_t>(number));
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown query parameter '", name,
          "'; allowed: model, version, top_k, graph, max_edges_per_node, "
          "request_id"));
    }
  }
  return request;
}

json V2Tensor(const std::string& name, std::vector<int64_t> shape,
              std::vector<float> data) {
  return json{{"name", name}, {"datatype", "FP32"}, {"shape", shape},
              {"data", data}};
}

json V2Spec(const std::string& name, const char* type, std::vector<int64_t> shape) {
  return json{{"name", name}, {"datatype", type}, {"shape", shape}};
}

// The elements of a v2 tensor's `data`, flat or nested, in row-major order,
// walked without recursion; a non-string element is refused.
absl::StatusOr<std::vector<const std::string*>> TensorStrings(
    const json& data, const std::string& input) {
  std::vector<const std::string*> out;
  std::vector<const json*> pending = {&data};
  while (!pending.empty()) {
    const json* item = pending.back();
    pending.pop_back();
    if (item->is_array()) {
      for (auto it = item->rbegin(); it != item->rend(); ++it) {
        pending.push_back(&*it);
      }
    } else if (item->is_string()) {
      out.push_back(item->get_ptr<const std::string*>());
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", EchoText(input), "' holds a ", item->type_name(),
          "; BYTES data are strings (the encoded image in base64)"));
    }
  }
  return out;
}

// The number of elements a v2 tensor's `shape` says: a list of non-negative
// integers, multiplied without overflow.
absl::StatusOr<int64_t> ShapeElements(const json* shape, const std::string& input) {
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input '", EchoText(input), "': shape ",
        shape ? EchoText(shape->dump()) : "", " ", why));
  };
  if (shape == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input '", EchoText(input), "' has no shape; an image is shape [1]"));
  }
  if (!shape->is_array()) return invalid("is not a list of integers");
  int64_t elements = 1;
  bool overflow = false;
  for (const json& dim : *shape) {
    if (!dim.is_number_integer() ||
        (dim.is_number_unsigned()
             ? dim.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)
             : dim.get<int64_t>() < 0)) {
      return invalid("must list non-negative integers");
    }
    const int64_t size = dim.get<int64_t>();
    if (size == 0) return int64_t{0};
    if (elements > INT64_MAX / size) overflow = true;
    if (!overflow) elements *= size;
  }
  if (overflow) return invalid("holds more elements than can be counted");
  return elements;
}

}  // namespace

HttpApi::HttpApi(Pipeline* pipeline, const ModelManager* models,
                 Metrics* metrics, Clock* clock, std::function<bool()> draining)
    : pipeline_(pipeline),
      models_(models),
      metrics_(metrics),
      clock_(clock),
      draining_(std::move(draining)) {}

int HttpApi::HttpStatusFor(absl::StatusCode code) {
  // grpc-gateway's runtime.HTTPStatusFromCode.
  switch (code) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kCancelled: return 499;
    case absl::StatusCode::kInvalidArgument: return 400;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists: return 409;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kFailedPrecondition: return 400;
    case absl::StatusCode::kAborted: return 409;
    case absl::StatusCode::kOutOfRange: return 400;
    case absl::StatusCode::kUnimplemented: return 501;
    case absl::StatusCode::kUnavailable: return 503;
    default: return 500;  // UNKNOWN, INTERNAL, DATA_LOSS
  }
}

absl::StatusCode HttpApi::CodeForHttpStatus(int status) {
  switch (status) {
    case 200: return absl::StatusCode::kOk;
    case 400: case 414: case 431: return absl::StatusCode::kInvalidArgument;
    case 401: return absl::StatusCode::kUnauthenticated;
    case 403: return absl::StatusCode::kPermissionDenied;
    case 404: return absl::StatusCode::kNotFound;
    case 405: case 501: return absl::StatusCode::kUnimplemented;
    case 409: return absl::StatusCode::kAborted;
    case 413: case 429: return absl::StatusCode::kResourceExhausted;
    case 499: return absl::StatusCode::kCancelled;
    case 503: return absl::StatusCode::kUnavailable;
    case 504: return absl::StatusCode::kDeadlineExceeded;
    default:
      return status >= 200 && status < 300 ? absl::StatusCode::kOk
                                           : absl::StatusCode::kUnknown;
  }
}

bool HttpApi::Ready() const {
  return !draining_() && models_->AnyReady();
}

// One HTTP request's images in the pipeline, and what makes its answer once
// the last is answered.
struct HttpApi::Call {
  std::shared_ptr<HttpExchange> exchange;
  std::vector<v1::ClassifyRequest> requests;
  std::vector<v1::ClassifyResponse> responses;
  // The answer from the responses, or from the first error; run by the
  // transport on its own thread (HttpExchange::RespondWith), not the
  // pipeline's.
  std::function<HttpResponse(const Call& call, const absl::Status& status)>
      answer;

  std::mutex mu;
  int remaining ABSL_GUARDED_BY(mu) = 0;
  absl::Status first_error ABSL_GUARDED_BY(mu);
  std::vector<Pipeline::Handle> handles ABSL_GUARDED_BY(mu);
};

void HttpApi::Handle(std::shared_ptr<HttpExchange> exchange) const {
  Counted counted;
  std::optional<HttpResponse> answer = Route(exchange, counted);
  if (!answer) return;  // in the pipeline, which answers and counts it
  if (!counted.by_service) {
    metrics_->CountRequest(counted.model ? models_->MetricLabel(*counted.model) : "",
                           CodeForHttpStatus(answer->status),
                           "http");
  }
  exchange->Respond(*std::move(answer));
}

std::optional<HttpResponse> HttpApi::Route(
    const std::shared_ptr<HttpExchange>& exchange, Counted& counted) const {
  const HttpRequest& http = exchange->request();
  const std::string& path = http.path;
  if (path == "/v2" || absl::StartsWith(path, "/v2/")) return V2(exchange, counted);
  if (path == "/v1/classify") {
    if (http.method != "POST") {
      return MethodNotAllowed(http, "POST", false);
    }
    return Classify(exchange, counted);
  }
  if (!IsGet(http)) {
    return MethodNotAllowed(http, "GET", false);
  }
  if (path == "/v1/models") return Models();
  if (path == "/healthz") return Json(200, R"({"status":"SERVING"})");
  if (path == "/readyz") {
    return Ready() ? Json(200, R"({"status":"SERVING"})")
                   : Json(503, R"({"status":"NOT_SERVING"})");
  }
  if (const ViewerAsset* asset = FindViewerAsset(path)) {
    return HttpResponse{200, asset->content_type, std::string(asset->body)};
  }
  return Error(absl::NotFoundError(absl::StrCat(
      "no such path: ", EchoText(path),
      "; served: /, /v1/classify, /v1/models, /healthz, /readyz, /v2/...")));
}

absl::Status HttpApi::Submit(std::shared_ptr<Call> call,
                             const std::shared_ptr<ServedModel>& model,
                             Counted& counted) const {
  const HttpRequest& http = call->exchange->request();
  CallContext context;
  context.protocol = CallContext::Protocol::kHttp;
  absl::StatusOr<Clock::TimePoint> deadline =
      Deadline(http.grpc_timeout, clock_->Now());
  if (!deadline.ok()) return deadline.status();
  context.deadline = *deadline;
  const int n = static_cast<int>(call->requests.size());
  call->responses.resize(n);
  {
    std::lock_guard<std::mutex> lock(call->mu);
    call->remaining = n;
  }
  counted.by_service = true;
  for (int i = 0; i < n; ++i) {
    auto done = [call, i, n](const absl::Status& status) {
      {
        std::lock_guard<std::mutex> lock(call->mu);
        if (!status.ok() && call->first_error.ok()) {
          call->first_error =
              n == 1 ? status
                     : absl::Status(status.code(),
                                    absl::StrCat("image ", i, ": ", status.message()));
        }
        if (--call->remaining > 0) return;
      }
      // Every image is answered: nothing writes the call any more.
      call->exchange->RespondWith([call] {
        absl::Status status;
        {
          std::lock_guard<std::mutex> lock(call->mu);
          status = call->first_error;
        }
        return call->answer(*call, status);
      });
    };
    Pipeline::Handle handle =
        model ? pipeline_->Submit(context, model, &call->requests[i],
                                  &call->responses[i], done)
              : pipeline_->Submit(context, &call->requests[i],
                                  &call->responses[i], done);
    std::lock_guard<std::mutex> lock(call->mu);
    call->handles.push_back(std::move(handle));
  }
  // The client's leaving cancels the images, wherever they wait.
  call->exchange->OnClientGone([call] {
    std::vector<Pipeline::Handle> handles;
    {
      std::lock_guard<std::mutex> lock(call->mu);
      handles = call->handles;
    }
    for (const Pipeline::Handle& handle : handles) handle.Cancel();
  });
  return absl::OkStatus();
}

std::optional<HttpResponse> HttpApi::Classify(
    const std::shared_ptr<HttpExchange>& exchange, Counted& counted) const {
  const HttpRequest& http = exchange->request();
  v1::ClassifyRequest request;
  if (absl::StartsWithIgnoreCase(http.content_type, "application/json")) {
    if (absl::Status bounded = CheckJson(http.body); !bounded.ok()) {
      return Error(bounded);
    }
    google::protobuf::util::JsonParseOptions options;
    auto parsed =
        google::protobuf::util::JsonStringToMessage(http.body, &request, options);
    counted.model = request.model();
    if (!parsed.ok()) {
      return Error(absl::InvalidArgumentError(absl::StrCat(
          "the body is not a ClassifyRequest in the proto3 JSON mapping: ",
          parsed.message().ToString())));
    }
  } else {
    absl::StatusOr<v1::ClassifyRequest> read = RequestFromQuery(http);
    auto named = http.query.find("model");
    counted.model = named == http.query.end() ? "" : named->second;
    if (!read.ok()) return Error(read.status());
    request = *std::move(read);
  }
  auto call = std::make_shared<Call>();
  call->exchange = exchange;
  call->requests.push_back(std::move(request));
  call->answer = [](const Call& call, const absl::Status& status) {
    return status.ok() ? Proto(call.responses[0]) : Error(status);
  };
  if (absl::Status submitted = Submit(call, nullptr, counted); !submitted.ok()) {
    return Error(submitted);
  }
  return std::nullopt;
}

HttpResponse HttpApi::Models() const {
  v1::ListModelsResponse response;
  DescribeModels(*models_, &response);
  return Proto(response);
}

std::optional<HttpResponse> HttpApi::V2(
    const std::shared_ptr<HttpExchange>& exchange, Counted& counted) const {
  const HttpRequest& http = exchange->request();
  // "/v2/models/m" is "", "v2", "models", "m"; an empty part elsewhere (a
  // doubled or trailing slash) is no path of the protocol's.
  std::vector<std::string> parts = absl::StrSplit(http.path, '/');
  parts.erase(parts.begin());
  if (std::find(parts.begin(), parts.end(), "") != parts.end()) {
    parts.clear();
  }
  const bool post_infer = !parts.empty() && parts.back() == "infer";
  if (post_infer ? http.method != "POST" : !IsGet(http)) {
    return MethodNotAllowed(http, post_infer ? "POST" : "GET", true);
  }
  if (parts.size() == 1) {
    return Json(200, json{{"name", "gcnserve"},
                          {"version", GCNSERVE_VERSION},
                          {"extensions", json::array()}}
                         .dump());
  }
  if (parts.size() == 3 && parts[1] == "health") {
    if (parts[2] == "live") return Json(200, R"({"live":true})");
    if (parts[2] == "ready") {
      return Ready() ? Json(200, R"({"ready":true})")
                     : Json(503, R"({"ready":false})");
    }
  }
  // models/{name}[/versions/{v}][/ready|/infer]
  if (parts.size() >= 3 && parts[1] == "models") {
    const std::string& name = parts[2];
    size_t next = 3;
    int64_t version = 0;
    if (parts.size() >= 5 && parts[3] == "versions") {
      if (!absl::SimpleAtoi(parts[4], &version) || version <= 0) {
        return V2Error(absl::InvalidArgumentError(absl::StrCat(
            "version '", parts[4], "' is not a positive integer")));
      }
      next = 5;
    }
    counted.model = name;
    if (parts.size() == next) return V2Model(exchange, name, version, "", counted);
    if (parts.size() == next + 1 &&
        (parts[next] == "ready" || parts[next] == "infer")) {
      return V2Model(exchange, name, version, parts[next], counted);
    }
  }
  return V2Error(absl::NotFoundError(absl::StrCat(
      "no such path: ", EchoText(http.path),
      "; served: /v2, /v2/health/{live,ready}, "
      "/v2/models/{name}[/versions/{v}][/ready|/infer]")));
}

std::optional<HttpResponse> HttpApi::V2Model(
    const std::shared_ptr<HttpExchange>& exchange, const std::string& name,
                              int64_t version, const std::string& action,
                              Counted& counted) const {
  absl::StatusOr<std::shared_ptr<ServedModel>> model =
      models_->Find(name, version);
  if (action == "ready") {
    bool ready = model.ok() && !draining_();
    if (!model.ok() && model.status().code() == absl::StatusCode::kNotFound) {
      return V2Error(model.status());
    }
    return Json(ready ? 200 : 503,
                Dump(json{{"name", name}, {"ready", ready}}));
  }
  if (!model.ok()) return V2Error(model.status());
  if (action == "infer") return V2Infer(exchange, *model, counted);

  const ModelMetadata& meta = (*model)->metadata();
  json versions = json::array();
  if (version > 0) {
    versions.push_back(absl::StrCat(version));
  } else {
    for (const ModelManager::VersionInfo& info : models_->List()) {
      if (info.name == name && info.state == ModelState::kReady) {
        versions.push_back(absl::StrCat(info.version));
      }
    }
  }
  const int64_t classes = static_cast<int64_t>(meta.labels.size());
  const int64_t k = meta.num_points;
  json outputs = json::array({V2Spec("probabilities", "FP32", {-1, classes})});
  if (meta.has_graph()) {
    outputs.push_back(V2Spec("points", "FP32", {-1, k, 2}));
    outputs.push_back(V2Spec("point_scores", "FP32", {-1, k}));
    outputs.push_back(V2Spec("adjacency", "FP32", {-1, k, k}));
  }
  return Json(200, json{{"name", name},
                        {"versions", versions},
                        {"platform", "pytorch_torchscript"},
                        {"inputs", json::array({V2Spec("image", "BYTES", {-1})})},
                        {"outputs", outputs}}
                       .dump(-1, ' ', false, json::error_handler_t::replace));
}

std::optional<HttpResponse> HttpApi::V2Infer(
    const std::shared_ptr<HttpExchange>& exchange,
    const std::shared_ptr<ServedModel>& model, Counted& counted) const {
  const HttpRequest& http = exchange->request();
  const ModelMetadata& meta = model->metadata();
  absl::StatusOr<json> parsed = ParseBoundedJson(http.body);
  if (!parsed.ok()) return V2Error(parsed.status());
  const json& body = *parsed;
  if (!body.is_object()) {
    return V2Error(absl::InvalidArgumentError("the body is not a JSON object"));
  }
  const json* inputs = body.contains("inputs") ? &body["inputs"] : nullptr;
  if (!inputs || !inputs->is_array() || inputs->size() != 1 ||
      !(*inputs)[0].is_object()) {
    return V2Error(absl::InvalidArgumentError(
        "inputs must hold exactly one tensor: the encoded image as BYTES"));
  }
  const json& input = (*inputs)[0];
  const std::string input_name =
      input.contains("name") && input["name"].is_string()
          ? input["name"].get<std::string>()
          : "";
  const std::string datatype =
      input.contains("datatype") && input["datatype"].is_string()
          ? input["datatype"].get<std::string>()
          : "";
  if (datatype != "BYTES") {
    return V2Error(absl::InvalidArgumentError(absl::StrCat(
        "input '", EchoText(input_name), "' has datatype '", EchoText(datatype),
        "'; allowed: BYTES (the encoded image)")));
  }
  absl::StatusOr<int64_t> elements = ShapeElements(
      input.contains("shape") ? &input["shape"] : nullptr, input_name);
  if (!elements.ok()) return V2Error(elements.status());
  absl::StatusOr<std::vector<const std::string*>> data =
      input.contains("data")
          ? TensorStrings(input["data"], input_name)
          : absl::StatusOr<std::vector<const std::string*>>(
                absl::InvalidArgumentError(absl::StrCat(
                    "input '", EchoText(input_name), "' has no data")));
  if (!data.ok()) return V2Error(data.status());
  if (static_cast<int64_t>(data->size()) != *elements) {
    return V2Error(absl::InvalidArgumentError(absl::StrCat(
        "input '", EchoText(input_name), "' holds ", data->size(),
        " elements where its shape says ", *elements)));
  }
  if (data->empty() || static_cast<int64_t>(data->size()) > kMaxImagesPerRequest) {
    return V2Error(absl::InvalidArgumentError(absl::StrCat(
        "input '", EchoText(input_name), "' must hold 1 to ", kMaxImagesPerRequest,
        " elements, each an encoded image in base64; it holds ", data->size())));
  }
  const int n = static_cast<int>(data->size());
  std::vector<v1::ClassifyRequest> requests(n);
  for (int i = 0; i < n; ++i) {
    if (!absl::Base64Unescape(*(*data)[i], requests[i].mutable_image())) {
      return V2Error(absl::InvalidArgumentError(absl::StrCat(
          "input '", EchoText(input_name), "': element ", i,
          " is not an encoded image in base64")));
    }
  }
  std::vector<std::string> wanted;
  if (body.contains("outputs") && !body["outputs"].is_array()) {
    return V2Error(absl::InvalidArgumentError(
        "outputs must be a list of {\"name\": ...}"));
  }
  if (body.contains("outputs")) {
    for (const json& output : body["outputs"]) {
      std::string name = output.is_object() && output.contains("name") &&
                                 output["name"].is_string()
                             ? output["name"].get<std::string>()
                             : "";
      bool known = name == "probabilities" ||
                   (meta.has_graph() && (name == "points" || name == "point_scores" ||
                                         name == "adjacency"));
      if (!known) {
        return V2Error(absl::InvalidArgumentError(absl::StrCat(
            "unknown output '", EchoText(name), "'; see GET /v2/models/",
            model->name())));
      }
      wanted.push_back(name);
    }
  }
  auto wants = [wanted](const char* name) {
    return wanted.empty() ||
           std::find(wanted.begin(), wanted.end(), name) != wanted.end();
  };

  std::string id = body.contains("id") && body["id"].is_string()
                       ? body["id"].get<std::string>()
                       : "";
  for (v1::ClassifyRequest& request : requests) {
    request.set_top_k(static_cast<int32_t>(meta.labels.size()));
    request.set_graph(!meta.has_graph()       ? v1::GRAPH_DETAIL_NONE
                      : wants("adjacency")    ? v1::GRAPH_DETAIL_FULL
                                              : v1::GRAPH_DETAIL_POINTS);
    request.set_request_id(id.substr(0, kMaxRequestIdBytes));
  }
  auto call = std::make_shared<Call>();
  call->exchange = exchange;
  call->requests = std::move(requests);
  call->answer = [model, wants, id](const Call& call,
                                    const absl::Status& status) {
    if (!status.ok()) return V2Error(status);
    const ModelMetadata& meta = model->metadata();
    const int n = static_cast<int>(call.responses.size());
    json outputs = json::array();
    const int64_t classes = static_cast<int64_t>(meta.labels.size());
    const int64_t k = meta.num_points;
    const int64_t rows = n;
    StackedAnswers stacked =
        StackAnswers(call.responses.data(), n, static_cast<int>(classes));
    if (wants("probabilities")) {
      outputs.push_back(V2Tensor("probabilities", {rows, classes},
                                 std::move(stacked.probabilities)));
    }
    if (meta.has_graph()) {
      if (wants("points")) {
        outputs.push_back(
            V2Tensor("points", {rows, k, 2}, std::move(stacked.points)));
      }
      if (wants("point_scores")) {
        outputs.push_back(V2Tensor("point_scores", {rows, k},
                                   std::move(stacked.point_scores)));
      }
      if (wants("adjacency")) {
        outputs.push_back(
            V2Tensor("adjacency", {rows, k, k}, std::move(stacked.adjacency)));
      }
    }
    const v1::ClassifyResponse& response = call.responses[0];
    json answer = {{"model_name", model->name()},
                   {"model_version", absl::StrCat(model->version())},
                   {"parameters", {{"model_digest", response.model_digest()}}},
                   {"outputs", outputs}};
    if (!id.empty()) answer["id"] = id;
    return Json(200, Dump(answer));
  };
  if (absl::Status submitted = Submit(call, model, counted); !submitted.ok()) {
    return V2Error(submitted);
  }
  return std::nullopt;
}

}  // namespace gcnserve
