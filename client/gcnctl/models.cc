// gcnctl models: the models and versions the server serves.
#include <iomanip>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "client/gcnctl/command.h"
#include "client/gcnctl/flags.h"

namespace gcnserve::gcnctl {

int Models(ClassifierClient& client, const Invocation& invocation) {
  v1::ListModelsResponse response;
  grpc::Status status = client.ListModels(&response);
  if (!status.ok()) {
    std::cerr << "gcnctl models: " << StatusCodeName(status.error_code())
              << ": " << status.error_message() << "\n";
    return 1;
  }
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << ToJson(response).dump(2) << "\n";
    return 0;
  }
  std::cout << std::left << std::setw(16) << "MODEL" << std::setw(9)
            << "VERSION" << std::setw(8) << "STATE" << std::setw(8) << "ARCH"
            << std::setw(12) << "INPUT" << std::setw(8) << "POINTS"
            << std::setw(9) << "CLASSES"
            << "DIGEST\n";
  for (const auto& m : response.models()) {
    std::string input = std::to_string(m.input_width()) + "x" +
                        std::to_string(m.input_height()) + "x" +
                        std::to_string(m.input_channels());
    std::cout << std::setw(16)
              << (m.name() + (m.name() == response.default_model() ? "*" : ""))
              << std::setw(9) << m.version() << std::setw(8)
              << v1::ModelState_Name(m.state()).substr(sizeof("MODEL_STATE_") -
                                                       1)
              << std::setw(8) << m.architecture() << std::setw(12) << input
              << std::setw(8) << m.num_points() << std::setw(9)
              << m.labels_size() << m.digest() << "\n";
    if (m.state() == v1::MODEL_STATE_FAILED) {
      std::cout << "  failed: " << m.state_reason() << "; "
                << (m.serving_version() > 0
                        ? "version " + std::to_string(m.serving_version()) +
                              " serves instead"
                        : std::string("no version serves instead"))
                << "\n";
    }
  }
  std::cout << "(* the default model)\n";
  return 0;
}

}  // namespace gcnserve::gcnctl
