#ifndef GCNSERVE_CLIENT_CLASSIFIER_CLIENT_H_
#define GCNSERVE_CLIENT_CLASSIFIER_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "gcnserve/v1/gcnserve.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace gcnserve {

struct ClientOptions {
  // host:port, or several separated by commas (spread round-robin), or any
  // gRPC target URI such as dns:///name:50051.
  std::string target = "127.0.0.1:50051";
  int deadline_ms = 10000;              // every call's deadline
  int max_message_bytes = 64 << 20;     // largest response accepted
};

// A client of gcnserve.v1.Classifier and grpc.health.v1.Health over one
// channel. Thread-safe; every call carries the deadline from the options.
class ClassifierClient {
 public:
  explicit ClassifierClient(const ClientOptions& options);

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

 private:
  void SetDeadline(grpc::ClientContext& context) const;

  const ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Classifier::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

// The gRPC target for a list "host:port,host:port" (ipv4:/ipv6: URI), or the
// target unchanged when it is a single address or already a URI.
std::string ChannelTarget(const std::string& target);

}  // namespace gcnserve

#endif  // GCNSERVE_CLIENT_CLASSIFIER_CLIENT_H_
