#include "client/classifier_client.h"

#include <chrono>
#include <utility>

namespace gcnserve {

std::string ChannelTarget(const std::string& target) {
  bool is_uri = target.rfind("ipv4:", 0) == 0 || target.rfind("ipv6:", 0) == 0 ||
                target.rfind("unix:", 0) == 0 ||
                target.find(":///") != std::string::npos;
  if (is_uri || target.find(',') == std::string::npos) return target;
  return (target.front() == '[' ? "ipv6:" : "ipv4:") + target;
}

ClassifierClient::ClassifierClient(const ClientOptions& options)
    : options_(options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  args.SetLoadBalancingPolicyName("round_robin");
  channel_ = grpc::CreateCustomChannel(ChannelTarget(options.target),
                                       grpc::InsecureChannelCredentials(), args);
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
      [context, done = std::move(done)](grpc::Status status) { done(status); });
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
