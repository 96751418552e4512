#include "client/classifier_client.h"

#include <chrono>
#include <fstream>
#include <sstream>
#include <utility>

#include "client/service_config.h"

namespace gcnserve {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& flag,
                                    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in || text.str().empty()) {
    return absl::InvalidArgumentError(flag + ": cannot read '" + path + "'");
  }
  return text.str();
}

}  // namespace

std::string ChannelTarget(const std::string& target) {
  bool is_uri =
      target.rfind("ipv4:", 0) == 0 || target.rfind("ipv6:", 0) == 0 ||
      target.rfind("unix:", 0) == 0 || target.find(":///") != std::string::npos;
  if (is_uri || target.find(',') == std::string::npos) return target;
  return (target.front() == '[' ? "ipv6:" : "ipv4:") + target;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(
    const TlsOptions& tls) {
  bool enabled = tls.enabled || !tls.ca_file.empty() ||
                 !tls.cert_file.empty() || !tls.key_file.empty();
  if (!enabled) return grpc::InsecureChannelCredentials();
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key go together (mutual TLS needs both)");
  }
  grpc::SslCredentialsOptions ssl;
  if (!tls.ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadPem("--tls-ca", tls.ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
  }
  if (!tls.cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadPem("--tls-cert", tls.cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPem("--tls-key", tls.key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(ssl);
}

absl::StatusOr<grpc_compression_algorithm> ParseCompression(
    const std::string& name) {
  if (name == "none") return GRPC_COMPRESS_NONE;
  if (name == "gzip") return GRPC_COMPRESS_GZIP;
  if (name == "deflate") return GRPC_COMPRESS_DEFLATE;
  return absl::InvalidArgumentError(
      "--compression is none, gzip or deflate, not '" + name + "'");
}

std::string StatusCodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  int i = static_cast<int>(code);
  return i >= 0 && i <= 16 ? kNames[i] : "CODE_" + std::to_string(i);
}

absl::StatusOr<std::unique_ptr<ClassifierClient>> ClassifierClient::Create(
    const ClientOptions& options) {
  if (options.target.empty()) {
    return absl::InvalidArgumentError("--target is empty");
  }
  if (options.deadline_ms < 1) {
    return absl::InvalidArgumentError("--deadline-ms must be at least 1");
  }
  if (options.max_message_bytes < 1) {
    return absl::InvalidArgumentError("--max-message-bytes must be at least 1");
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      ChannelCredentials(options.tls);
  if (!credentials.ok()) return credentials.status();
  return std::make_unique<ClassifierClient>(options, *std::move(credentials));
}

ClassifierClient::ClassifierClient(
    const ClientOptions& options,
    std::shared_ptr<grpc::ChannelCredentials> credentials)
    : options_(options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  args.SetLoadBalancingPolicyName("round_robin");
  args.SetServiceConfigJSON(kServiceConfigJson);
  args.SetCompressionAlgorithm(options.compression);
  if (!options.tls.server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls.server_name);
  }
  channel_ = grpc::CreateCustomChannel(ChannelTarget(options.target),
                                       std::move(credentials), args);
  stub_ = v1::Classifier::NewStub(channel_);
  health_ = grpc::health::v1::Health::NewStub(channel_);
}

void ClassifierClient::SetDeadline(grpc::ClientContext& context) const {
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(options_.deadline_ms));
}

grpc::Status ClassifierClient::Classify(const v1::ClassifyRequest& request,
                                        v1::ClassifyResponse* response) {
  grpc::ClientContext context;
  SetDeadline(context);
  return stub_->Classify(&context, request, response);
}

void ClassifierClient::ClassifyAsync(const v1::ClassifyRequest& request,
                                     v1::ClassifyResponse* response,
                                     std::function<void(grpc::Status)> done) {
  auto context = std::make_shared<grpc::ClientContext>();
  SetDeadline(*context);
  stub_->async()->Classify(
      context.get(), &request, response,
      [context, done = std::move(done)](grpc::Status status) mutable {
        // The context goes first: once `done` has run, the caller may shut
        // gRPC down, and a ClientContext must not outlive that.
        context.reset();
        done(status);
      });
}

grpc::Status ClassifierClient::ListModels(v1::ListModelsResponse* response) {
  grpc::ClientContext context;
  SetDeadline(context);
  return stub_->ListModels(&context, v1::ListModelsRequest(), response);
}

grpc::Status ClassifierClient::Health(
    const std::string& service,
    grpc::health::v1::HealthCheckResponse* response) {
  grpc::ClientContext context;
  SetDeadline(context);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  return health_->Check(&context, request, response);
}

}  // namespace gcnserve
