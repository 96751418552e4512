#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "server/log.h"
#include "server/model_repository.h"
#include "server/status_macros.h"
#include "server/torch_model_runner.h"

#ifndef GCNSERVE_VERSION
#define GCNSERVE_VERSION "0.0.0"
#endif

namespace gcnserve {

namespace {

constexpr char kServiceName[] = "gcnserve.v1.Classifier";

// Loads the newest version of every model in the repository and warms it up.
// A model that fails is logged and counted, and the others still load.
absl::StatusOr<ClassifierService::Models> LoadModels(
    const ServerOptions& options, Metrics& metrics) {
  GCN_ASSIGN_OR_RETURN(std::vector<ModelVersionPath> found,
                       ScanRepository(options.model_repository));
  ServedModel::Options model_options;
  model_options.batching.max_batch_size = options.max_batch_size;
  model_options.batching.max_queue_delay =
      std::chrono::microseconds(options.max_queue_delay_us);
  model_options.batching.max_queue_size = options.max_queue_size;
  model_options.max_image_pixels = options.max_image_pixels;

  ClassifierService::Models models;
  for (const ModelVersionPath& entry : found) {
    auto start = std::chrono::steady_clock::now();
    absl::StatusOr<std::unique_ptr<TorchModelRunner>> runner =
        TorchModelRunner::Load(entry.path, {options.device});
    absl::Status status = runner.status();
    if (status.ok()) status = (*runner)->WarmUp(options.max_batch_size);
    if (!status.ok()) {
      Log("model ", entry.name, " version ", entry.version,
          " failed to load: ", status.message());
      metrics.CountLoadFailure(entry.name);
      metrics.SetModelReady(entry.name, entry.version, false);
      continue;
    }
    ModelMetadata metadata = (*runner)->metadata();
    auto model = std::make_shared<ServedModel>(
        entry.name, entry.version, std::move(metadata), *std::move(runner),
        model_options, metrics.ForModel(entry.name), Clock::Real());
    model->Start();
    metrics.SetModelReady(entry.name, entry.version, true);
    Log("model ", entry.name, " version ", entry.version, " ready (",
        model->metadata().architecture, ", warmed up to batch size ",
        options.max_batch_size, " in ",
        std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - start)
            .count(),
        " ms)");
    models.emplace(entry.name, std::move(model));
  }
  if (models.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no model could be loaded from '",
                     options.model_repository,
                     "'; expected <model>/<version>/model.pt folders"));
  }
  return models;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Create(
    const ServerOptions& options) {
  GCN_RETURN_IF_ERROR(TorchModelRunner::CheckDevice(options.device));
  int threads = options.intra_op_threads > 0
                    ? options.intra_op_threads
                    : static_cast<int>(std::thread::hardware_concurrency());
  TorchModelRunner::SetIntraOpThreads(threads);

  std::unique_ptr<Server> server(new Server);
  server->options_ = options;
  server->metrics_ = std::make_unique<Metrics>(
      GCNSERVE_VERSION, TorchModelRunner::TorchVersion(), options.device);
  if (!options.metrics_address.empty()) {
    GCN_ASSIGN_OR_RETURN(server->metrics_http_,
                         MetricsHttpServer::Start(options.metrics_address,
                                                  server->metrics_->registry()));
  }

  GCN_ASSIGN_OR_RETURN(ClassifierService::Models models,
                       LoadModels(options, *server->metrics_));
  std::string default_model = options.default_model;
  if (default_model.empty()) {
    default_model = models.begin()->first;
  } else if (models.count(default_model) == 0) {
    return absl::NotFoundError(absl::StrCat(
        "--default-model=", default_model, ": no such model was loaded"));
  }

  server->pool_ = std::make_unique<ThreadPool>(options.preprocess_threads,
                                               options.max_queue_size);
  server->service_ = std::make_unique<ClassifierService>(
      std::move(models), default_model, server->pool_.get(),
      server->metrics_.get(), Clock::Real());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.grpc_address,
                           grpc::InsecureServerCredentials(),
                           &server->grpc_port_);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.RegisterService(server->service_.get());
  server->grpc_server_ = builder.BuildAndStart();
  if (!server->grpc_server_ || server->grpc_port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "--grpc-address=", options.grpc_address, ": cannot listen there"));
  }
  grpc::HealthCheckServiceInterface* health =
      server->grpc_server_->GetHealthCheckService();
  health->SetServingStatus("", true);
  health->SetServingStatus(kServiceName, true);
  Log("serving ", server->service_->models().size(), " model(s) on port ",
      server->grpc_port_, ", default model ", default_model,
      server->metrics_http_
          ? absl::StrCat(", metrics on port ", server->metrics_port())
          : std::string(", metrics off"));
  return server;
}

void Server::BeginDrain() {
  std::lock_guard<std::mutex> lock(shutdown_mu_);
  if (draining_) return;
  draining_ = true;
  Log("draining: health NOT_SERVING, new requests UNAVAILABLE");
  grpc::HealthCheckServiceInterface* health =
      grpc_server_->GetHealthCheckService();
  health->SetServingStatus("", false);
  health->SetServingStatus(kServiceName, false);
  service_->StartDraining();
  for (const auto& [name, model] : service_->models()) model->Flush();
}

void Server::Shutdown() {
  BeginDrain();
  std::lock_guard<std::mutex> lock(shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  auto timeout = std::chrono::milliseconds(
      static_cast<int64_t>(options_.drain_timeout_s * 1000));
  bool idle = service_->WaitIdle(timeout);
  if (!idle) Log("drain timeout passed; failing what is still queued");
  for (const auto& [name, model] : service_->models()) model->Stop(idle);
  // Requests still being decoded meet a stopped batcher and are answered.
  if (!service_->WaitIdle(std::chrono::seconds(5))) {
    Log("some requests were still unanswered at shutdown");
  }
  grpc_server_->Shutdown(std::chrono::system_clock::now() +
                         std::chrono::seconds(1));
  grpc_server_->Wait();
  pool_.reset();
  metrics_http_.reset();
  Log("stopped");
}

Server::~Server() {
  if (grpc_server_) Shutdown();
}

}  // namespace gcnserve
