// gcnctl health: the server's health; exit 0 only when SERVING.
#include <iostream>

#include "absl/flags/flag.h"
#include "client/gcnctl/command.h"
#include "client/gcnctl/flags.h"

namespace gcnserve::gcnctl {

int Health(ClassifierClient& client, const Invocation& invocation) {
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = client.Health(absl::GetFlag(FLAGS_service), &response);
  if (!status.ok()) {
    std::cout << StatusCodeName(status.error_code()) << ": "
              << status.error_message() << "\n";
    return 1;
  }
  std::cout << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
                   response.status())
            << "\n";
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING
             ? 0
             : 1;
}

}  // namespace gcnserve::gcnctl
