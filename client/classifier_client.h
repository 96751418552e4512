#ifndef GCNSERVE_CLIENT_CLASSIFIER_CLIENT_H_
#define GCNSERVE_CLIENT_CLASSIFIER_CLIENT_H_

#include <grpc/compression.h>
#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gcnserve/v1/gcnserve.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace gcnserve {

// Transport security. Off by default: the channel is plaintext.
struct TlsOptions {
  bool enabled = false;     // TLS on; implied by any file below
  std::string ca_file;      // PEM roots to trust; empty = the system's roots
  std::string cert_file;    // PEM client certificate, for mutual TLS
  std::string key_file;     // PEM key of cert_file; both or neither
  std::string server_name;  // name to check the certificate against
                            // (default: the target's host)
};

struct ClientOptions {
  // host:port, or several separated by commas (spread round-robin), or any
  // gRPC target URI such as dns:///name:50051 (every address the name
  // resolves to gets requests in turn) or ipv4:a:p1,b:p2.
  std::string target = "127.0.0.1:50051";
  int deadline_ms = 10000;           // every call's deadline
  int max_message_bytes = 64 << 20;  // largest message sent or accepted
  // Compression of the messages the client sends (the server answers in
  // kind when it supports the algorithm). Images are already compressed,
  // so this mostly pays off for FULL graphs.
  grpc_compression_algorithm compression = GRPC_COMPRESS_NONE;
  TlsOptions tls;
};

// A client of gcnserve.v1.Classifier and grpc.health.v1.Health over one
// channel. Thread-safe; every call carries the deadline from the options.
class ClassifierClient {
 public:
  // Checks the options and reads the TLS files; INVALID_ARGUMENT names the
  // bad option or the file that cannot be read.
  static absl::StatusOr<std::unique_ptr<ClassifierClient>> Create(
      const ClientOptions& options);

  // A client over `credentials` (plaintext by default); of options.tls only
  // server_name is used. Cannot fail: a bad target fails each call instead.
  explicit ClassifierClient(
      const ClientOptions& options,
      std::shared_ptr<grpc::ChannelCredentials> credentials =
          grpc::InsecureChannelCredentials());

  grpc::Status Classify(const v1::ClassifyRequest& request,
                        v1::ClassifyResponse* response);
  // Starts a Classify and returns at once; `done` runs on a gRPC thread when
  // it ends. `request` and `response` must outlive the call.
  void ClassifyAsync(const v1::ClassifyRequest& request,
                     v1::ClassifyResponse* response,
                     std::function<void(grpc::Status)> done);
  grpc::Status ListModels(v1::ListModelsResponse* response);
  // The health of `service` ("" for the whole server).
  grpc::Status Health(const std::string& service,
                      grpc::health::v1::HealthCheckResponse* response);

  // For callers that drive calls themselves (bench: streams, reactors).
  v1::Classifier::Stub& stub() { return *stub_; }
  // Sets the options' deadline on a context about to start a call.
  void SetDeadline(grpc::ClientContext& context) const;
  const ClientOptions& options() const { return options_; }

 private:
  const ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Classifier::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

// The gRPC target for a list "host:port,host:port" (ipv4:/ipv6: URI), or the
// target unchanged when it is a single address or already a URI.
std::string ChannelTarget(const std::string& target);

// Channel credentials for `tls`: plaintext when it is off, else TLS with its
// files read. INVALID_ARGUMENT for a file that cannot be read or a
// certificate without its key.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(
    const TlsOptions& tls);

// "none", "gzip" or "deflate".
absl::StatusOr<grpc_compression_algorithm> ParseCompression(
    const std::string& name);

// The canonical name of a status code: "OK", "INVALID_ARGUMENT", ...
std::string StatusCodeName(grpc::StatusCode code);

}  // namespace gcnserve

#endif  // GCNSERVE_CLIENT_CLASSIFIER_CLIENT_H_
