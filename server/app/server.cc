#include "server/app/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>

#include <algorithm>
#include <exception>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "server/app/protobuf_log.h"
#include "server/base/cpu_count.h"
#include "server/base/log.h"
#include "server/base/status_macros.h"
#include "server/models/torch_loader.h"
#include "server/runner/torch_model_runner.h"

#ifndef GCNSERVE_VERSION
#define GCNSERVE_VERSION "0.0.0"
#endif

namespace gcnserve {

namespace {

constexpr char kServiceName[] = "gcnserve.v1.Classifier";

// At the end of a drain, calls already on their way are held before the gRPC
// server shuts down: until none has arrived for kHoldQuiet (each client
// with a call held sends no other), kHoldMax at most. The GOAWAY is then
// given kHoldAfterGoaway to reach the clients before the held calls are
// answered.
constexpr auto kHoldQuiet = std::chrono::milliseconds(50);
constexpr auto kHoldMax = std::chrono::milliseconds(1000);
constexpr auto kHoldAfterGoaway = std::chrono::milliseconds(200);

// Loads `config.instances` copies of the TorchScript file and warms each up
// to the largest batch size (TorchModelRunner::WarmUp says how).
ModelConfig DefaultModelConfig(const ServerOptions& options) {
  ModelConfig config;
  config.batching.max_batch_size = options.max_batch_size;
  config.batching.max_queue_delay =
      std::chrono::microseconds(options.max_queue_delay_us);
  config.batching.max_queue_size = options.max_queue_size;
  config.batching.idle_spin =
      std::chrono::microseconds(options.batch_idle_spin_us);
  config.device = options.device;
  config.instances = options.instances;
  config.intra_op_threads = options.intra_op_threads;
  return config;
}

// The contents of the PEM file that `flag` names; INVALID_ARGUMENT names
// the flag and the path when it cannot be read or holds no PEM block.
absl::StatusOr<std::string> ReadPemFlag(const char* flag,
                                        const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (text.str().find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, "=", path, ": cannot read a PEM file there"));
  }
  return text.str();
}

// Plaintext, TLS, or mutual TLS, as the --tls-* options say.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(
    const ServerOptions& options) {
  if (options.tls_cert.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  GCN_ASSIGN_OR_RETURN(pair.cert_chain, ReadPemFlag("tls-cert", options.tls_cert));
  GCN_ASSIGN_OR_RETURN(pair.private_key, ReadPemFlag("tls-key", options.tls_key));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  if (!options.tls_client_ca.empty()) {
    GCN_ASSIGN_OR_RETURN(ssl.pem_root_certs,
                         ReadPemFlag("tls-client-ca", options.tls_client_ca));
    ssl.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

// What one client may take of the gRPC port beyond the message size: a
// memory quota for gRPC's buffers, a cap on streams per connection, a
// keepalive policy, and a maximum connection age.
void GuardGrpcEdge(const ServerOptions& options, grpc::ServerBuilder& builder) {
  grpc::ResourceQuota quota("gcnserve-grpc");
  quota.Resize(static_cast<size_t>(options.max_grpc_memory_bytes));
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             options.max_streams_per_connection);
  // Clients may ping every 10 s, with or without calls (the keepalive a
  // long-lived idle channel needs); one that pings more often is sent
  // GOAWAY after two strikes. The server pings an idle connection after
  // 60 s and drops it when 20 s pass without an answer (a peer gone away).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             10'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
  if (options.max_connection_age_s > 0) {
    builder.AddChannelArgument(
        GRPC_ARG_MAX_CONNECTION_AGE_MS,
        static_cast<int>(std::min(options.max_connection_age_s * 1000, 2e9)));
    builder.AddChannelArgument(
        GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
        static_cast<int>(
            std::min(options.max_connection_age_grace_s * 1000, 2e9)));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Create(
    const ServerOptions& options) {
  GCN_RETURN_IF_ERROR(TorchModelRunner::CheckDevice(options.device));
  // gRPC's parser refuses a request with invalid UTF-8 in a string field
  // before the service sees it, and protobuf logs each one.
  RateLimitProtobufLog();
  GCN_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                       ServerCredentials(options));
  const int cores = UsableCores();
  // Each instance sets its own thread's count; this sets the process's (and
  // OpenBLAS's) to what the server's defaults give an instance.
  TorchModelRunner::SetIntraOpThreads(
      DefaultModelConfig(options).ThreadsPerInstance(cores));

  std::unique_ptr<Server> server(new Server);
  Server* self = server.get();
  server->options_ = options;
  DriftMonitor::Options drift;
  drift.window_requests = options.drift_window_requests;
  drift.window = std::chrono::duration_cast<Clock::Duration>(
      std::chrono::duration<double>(options.drift_window_s));
  drift.min_requests = options.drift_min_requests;
  server->metrics_ = std::make_unique<Metrics>(
      GCNSERVE_VERSION, TorchModelRunner::TorchVersion(), options.device,
      drift);
  if (!options.metrics_address.empty()) {
    Metrics* metrics = server->metrics_.get();
    GCN_ASSIGN_OR_RETURN(
        server->metrics_http_,
        MetricsHttpServer::Start(options.metrics_address, metrics->registry(),
                                 [metrics] { metrics->drift().Publish(); }));
  }
  ModelManager::Options manager_options;
  manager_options.repository = options.model_repository;
  manager_options.defaults = DefaultModelConfig(options);
  manager_options.max_image_pixels = options.max_image_pixels;
  manager_options.max_decode_bytes = options.max_decode_bytes;
  manager_options.default_model = options.default_model;
  server->models_ = std::make_unique<ModelManager>(
      manager_options,
      [cores](const std::string& path, const ModelConfig& config) {
        return LoadTorchModel(path, config, cores);
      },
      server->metrics_.get(), Clock::Real(),
      [self](const std::string& model, bool serving) {
        self->SetHealth(model, serving);
      });
  const int preprocess_threads = options.PreprocessThreads(cores);
  Log("decoding on ", preprocess_threads, " thread(s)");
  server->pool_ = std::make_unique<ThreadPool>(preprocess_threads,
                                               options.max_queue_size);
  server->decode_budget_ =
      std::make_unique<DecodeBudget>(options.max_decode_bytes_in_flight);
  server->pipeline_ = std::make_unique<Pipeline>(
      server->models_.get(), server->pool_.get(), server->metrics_.get(),
      Clock::Real(), server->decode_budget_.get());
  server->service_ = std::make_unique<ClassifierService>(
      server->pipeline_.get(), server->models_.get(), server->metrics_.get(),
      Clock::Real());

  // The port opens first, NOT_SERVING until the models are warm.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.grpc_address, credentials,
                           &server->grpc_port_);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  GuardGrpcEdge(options, builder);
  server->inference_ = std::make_unique<InferenceService>(
      server->pipeline_.get(), server->models_.get(), server->metrics_.get(),
      Clock::Real(), [self] { return self->draining(); });
  builder.RegisterService(server->service_.get());
  builder.RegisterService(server->inference_.get());
  server->grpc_server_ = builder.BuildAndStart();
  if (!server->grpc_server_ || server->grpc_port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "--grpc-address=", options.grpc_address, ": cannot listen there",
        options.tls_cert.empty()
            ? ""
            : " (or --tls-cert and --tls-key are not a matching certificate "
              "and key; gRPC's log says which)"));
  }
  grpc::HealthCheckServiceInterface* health =
      server->grpc_server_->GetHealthCheckService();
  health->SetServingStatus("", false);
  health->SetServingStatus(kServiceName, false);
  if (!options.http_address.empty()) {
    server->http_api_ = std::make_unique<HttpApi>(
        server->pipeline_.get(), server->models_.get(), server->metrics_.get(),
        Clock::Real(),
        [self] { return self->draining(); });
    HttpServer::Options http;
    http.address = options.http_address;
    http.max_body_bytes = options.max_message_bytes;
    http.threads = options.http_threads;
    http.max_connections = options.http_max_connections;
    http.max_connections_per_address = options.http_max_connections_per_address;
    if (!options.tls_cert.empty()) {
      GCN_ASSIGN_OR_RETURN(http.tls_cert_pem,
                           ReadPemFlag("tls-cert", options.tls_cert));
      GCN_ASSIGN_OR_RETURN(http.tls_key_pem, ReadPemFlag("tls-key", options.tls_key));
    }
    Metrics* metrics = server->metrics_.get();
    http.on_refused = [metrics](int status) {
      metrics->CountRequest("", HttpApi::CodeForHttpStatus(status), "http");
    };
    HttpApi* api = server->http_api_.get();
    GCN_ASSIGN_OR_RETURN(
        server->http_,
        HttpServer::Start(http, [api](std::shared_ptr<HttpExchange> exchange) {
          api->Handle(std::move(exchange));
        }));
  }

  GCN_RETURN_IF_ERROR(server->models_->Reconcile());
  if (!server->models_->AnyReady()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no model could be loaded from '", options.model_repository,
                     "'; expected <model>/<version>/model.pt folders"));
  }
  if (!options.default_model.empty() &&
      !server->models_->Find(options.default_model, 0).ok()) {
    return absl::NotFoundError(absl::StrCat(
        "--default-model=", options.default_model, ": no such model is ready"));
  }
  health->SetServingStatus("", true);
  health->SetServingStatus(kServiceName, true);
  server->reload_thread_ = std::thread([self] { self->ReloadLoop(); });
  // Scripts read the gRPC port as the last " on port N," of this line, so
  // the HTTP clause says "HTTP port N" and the metrics clause stays last and
  // ends without a comma.
  Log("serving ", server->models_->List().size(), " model version(s) on port ",
      server->grpc_port_,
      options.tls_cert.empty()         ? ", plaintext"
      : options.tls_client_ca.empty() ? ", TLS"
                                       : ", mutual TLS",
      ", default model ", server->models_->DefaultModel(),
      server->http_ ? absl::StrCat(", HTTP port ", server->http_port(),
                                   server->http_->tls() ? " (HTTPS)" : "")
                    : std::string(", HTTP off"),
      server->metrics_http_
          ? absl::StrCat(", metrics on port ", server->metrics_port())
          : std::string(", metrics off"));
  return server;
}

void Server::SetHealth(const std::string& model, bool serving) {
  // Called from Reconcile, which runs only while grpc_server_ exists. Once
  // draining, the health service is shut down and ignores this.
  grpc_server_->GetHealthCheckService()->SetServingStatus(
      absl::StrCat(kServiceName, "/", model), serving);
}

void Server::RequestReload() {
  {
    std::lock_guard<std::mutex> lock(reload_mu_);
    reload_requested_ = true;
    reload_retry_failed_ = true;
  }
  reload_cv_.notify_all();
}

void Server::ReloadLoop() {
  const bool polling = options_.repository_poll_s > 0;
  const auto interval = std::chrono::milliseconds(
      static_cast<int64_t>(options_.repository_poll_s * 1000));
  std::unique_lock<std::mutex> lock(reload_mu_);
  for (;;) {
    auto woken = [this] { return reload_stop_ || reload_requested_; };
    if (polling) {
      reload_cv_.wait_for(lock, interval, woken);
    } else {
      reload_cv_.wait(lock, woken);
    }
    if (reload_stop_) return;
    ModelManager::Retry retry = reload_retry_failed_ ? ModelManager::Retry::kAll
                                                     : ModelManager::Retry::kChanged;
    reload_requested_ = false;
    reload_retry_failed_ = false;
    lock.unlock();
    absl::Status status;
    try {
      status = models_->Reconcile(retry);
    } catch (const std::exception& e) {  // none expected; never end the thread
      status = absl::InternalError(e.what());
    }
    if (!status.ok()) Log("reload: ", status.message(), "; serving goes on");
    lock.lock();
  }
}

void Server::BeginDrain() {
  std::lock_guard<std::mutex> lock(shutdown_mu_);
  if (draining_) return;
  drain_start_ = std::chrono::steady_clock::now();
  Log("draining: health NOT_SERVING, new requests UNAVAILABLE");
  // Every service NOT_SERVING, and no later SetServingStatus (a reload's)
  // can turn one back.
  grpc_server_->GetHealthCheckService()->Shutdown();
  pipeline_->StartDraining();
  models_->FlushAll();
  // Last: whoever sees draining() true finds health and the service so.
  draining_ = true;
}

void Server::Shutdown() {
  BeginDrain();
  std::lock_guard<std::mutex> lock(shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  {
    std::lock_guard<std::mutex> reload_lock(reload_mu_);
    reload_stop_ = true;
  }
  reload_cv_.notify_all();
  if (reload_thread_.joinable()) reload_thread_.join();

  // The grace window: load balancers see NOT_SERVING and UNAVAILABLE while
  // what was accepted goes on.
  std::this_thread::sleep_until(
      drain_start_ + std::chrono::milliseconds(
                         static_cast<int64_t>(options_.drain_grace_s * 1000)));
  auto timeout = std::chrono::milliseconds(
      static_cast<int64_t>(options_.drain_timeout_s * 1000));
  bool idle = pipeline_->WaitIdle(timeout);
  if (!idle) Log("drain timeout passed; failing what is still queued");
  models_->StopAll(/*drain=*/idle);
  // Requests still being decoded meet a stopped batcher and are answered.
  if (!pipeline_->WaitIdle(std::chrono::seconds(5))) {
    Log("some requests or streams were still open at shutdown");
  }
  // GOAWAY: clients take new calls elsewhere. gRPC cancels the calls it
  // receives once its shutdown began, so the calls still arriving are held
  // first (each such client has its call held and sends no other), then
  // answered UNAVAILABLE once the GOAWAY is out. Every accepted call is
  // answered by now, so the deadline cancels nothing but a client stuck
  // past the drain timeout.
  pipeline_->HoldNewCalls();
  const auto hold_until = std::chrono::steady_clock::now() + kHoldMax;
  for (int held = pipeline_->held(), before = -1;
       held != before && std::chrono::steady_clock::now() < hold_until;
       held = pipeline_->held()) {
    before = held;
    std::this_thread::sleep_for(kHoldQuiet);
  }
  std::thread stopping([this] {
    grpc_server_->Shutdown(std::chrono::system_clock::now() +
                           std::chrono::seconds(2));
  });
  std::this_thread::sleep_for(kHoldAfterGoaway);
  pipeline_->ReleaseHeld();
  stopping.join();
  // Every HTTP request has been answered, the held ones UNAVAILABLE, and
  // later ones are answered at once: stop its connections before the pool
  // goes.
  http_.reset();
  grpc_server_->Wait();
  pool_.reset();
  metrics_http_.reset();
  Log("stopped");
}

Server::~Server() {
  if (grpc_server_) Shutdown();
}

}  // namespace gcnserve
