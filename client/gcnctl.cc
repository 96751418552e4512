// gcnctl: the command-line client of gcnserve.
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "client/classifier_client.h"

namespace {

constexpr char kUsage[] = R"(gcnctl: the client of gcnserve.

Usage: gcnctl [--target HOST:PORT[,HOST:PORT...]] [--deadline-ms N] COMMAND ...

Commands:
  classify FILE... [--model NAME] [--version N] [--top-k N]
                   [--graph none|points|full] [--json]
      Classifies each image file and prints its top classes (with --json,
      one JSON object per file and line: {"file", "response"} or
      {"file", "error": {"code", "message"}}).
  models [--json]
      Lists the models the server serves.
  health [--service NAME]
      Prints the server's health ("" or gcnserve.v1.Classifier); exit 0 only
      when SERVING.

Options:
  --target       server address, or several separated by commas, spread
                 round-robin (default 127.0.0.1:50051)
  --deadline-ms  deadline of every call in milliseconds (default 10000)

Exit status: 0 when every request succeeded, 1 when any failed, 2 for a
usage error.
)";

struct Args {
  std::map<std::string, std::string> options;  // --name value
  std::vector<std::string> positional;
  bool Has(const std::string& name) const { return options.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback) const {
    auto it = options.find(name);
    return it == options.end() ? fallback : it->second;
  }
};

bool IsSwitch(const std::string& name) {
  return name == "json" || name == "help";
}

bool ParseArgs(int argc, char** argv, Args& args, std::string& error) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
      args.positional.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    size_t eq = name.find('=');
    if (eq != std::string::npos) {
      args.options[name.substr(0, eq)] = name.substr(eq + 1);
    } else if (IsSwitch(name)) {
      args.options[name] = "1";
    } else if (i + 1 < argc) {
      args.options[name] = argv[++i];
    } else {
      error = "option --" + name + " needs a value";
      return false;
    }
  }
  return true;
}

bool ToInt(const std::string& text, int& out) {
  try {
    size_t used;
    out = std::stoi(text, &used);
    return used == text.size();
  } catch (const std::exception&) {
    return false;
  }
}

std::string StatusName(grpc::StatusCode code) {
  static const char* const kNames[] = {
      "OK",           "CANCELLED",          "UNKNOWN",
      "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION", "ABORTED",     "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",          "UNAVAILABLE",
      "DATA_LOSS",    "UNAUTHENTICATED"};
  int i = static_cast<int>(code);
  return i >= 0 && i <= 16 ? kNames[i] : std::to_string(i);
}

nlohmann::json ToJson(const google::protobuf::Message& message) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  google::protobuf::util::MessageToJsonString(message, &text, options);
  return nlohmann::json::parse(text);
}

int Classify(gcnserve::ClassifierClient& client, const Args& args) {
  std::vector<std::string> files(args.positional.begin() + 1,
                                 args.positional.end());
  if (files.empty()) {
    std::cerr << "gcnctl classify: name at least one image file\n";
    return 2;
  }
  gcnserve::v1::ClassifyRequest request;
  request.set_model(args.Get("model", ""));
  int top_k = 5, version = 0;
  if (!ToInt(args.Get("top-k", "5"), top_k) ||
      !ToInt(args.Get("version", "0"), version)) {
    std::cerr << "gcnctl classify: --top-k and --version take integers\n";
    return 2;
  }
  request.set_top_k(top_k);
  request.set_version(version);
  std::string graph = args.Get("graph", "points");
  if (graph == "none") {
    request.set_graph(gcnserve::v1::NONE);
  } else if (graph == "points") {
    request.set_graph(gcnserve::v1::POINTS);
  } else if (graph == "full") {
    request.set_graph(gcnserve::v1::FULL);
  } else {
    std::cerr << "gcnctl classify: --graph is none, points or full\n";
    return 2;
  }
  const bool json = args.Has("json");

  int failures = 0;
  for (const std::string& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    gcnserve::v1::ClassifyResponse response;
    grpc::Status status;
    if (!in) {
      status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "cannot read the file");
    } else {
      request.set_image(bytes.str());
      request.set_request_id(file);
      status = client.Classify(request, &response);
    }
    if (!status.ok()) ++failures;
    if (json) {
      nlohmann::json line = {{"file", file}};
      if (status.ok()) {
        line["response"] = ToJson(response);
      } else {
        line["error"] = {{"code", StatusName(status.error_code())},
                         {"message", status.error_message()}};
      }
      std::cout << line.dump() << "\n";
      continue;
    }
    if (!status.ok()) {
      std::cout << file << ": " << StatusName(status.error_code()) << ": "
                << status.error_message() << "\n";
      continue;
    }
    std::cout << file << ":";
    for (const auto& c : response.classes()) {
      std::cout << "  " << c.label() << " " << std::fixed
                << std::setprecision(3) << c.probability();
    }
    std::cout << "   [" << response.model() << " v" << response.version()
              << ", " << response.points_size() << " points, batch "
              << response.timing().batch_size() << ", "
              << std::setprecision(1) << response.timing().total_us() / 1000.0
              << " ms]\n";
  }
  return failures == 0 ? 0 : 1;
}

int Models(gcnserve::ClassifierClient& client, const Args& args) {
  gcnserve::v1::ListModelsResponse response;
  grpc::Status status = client.ListModels(&response);
  if (!status.ok()) {
    std::cerr << "gcnctl models: " << StatusName(status.error_code()) << ": "
              << status.error_message() << "\n";
    return 1;
  }
  if (args.Has("json")) {
    std::cout << ToJson(response).dump(2) << "\n";
    return 0;
  }
  std::cout << std::left << std::setw(16) << "MODEL" << std::setw(9)
            << "VERSION" << std::setw(8) << "STATE" << std::setw(8) << "ARCH"
            << std::setw(12) << "INPUT" << std::setw(8) << "POINTS"
            << "CLASSES\n";
  for (const auto& m : response.models()) {
    std::string input = std::to_string(m.input_width()) + "x" +
                        std::to_string(m.input_height()) + "x" +
                        std::to_string(m.input_channels());
    std::cout << std::setw(16)
              << (m.name() + (m.name() == response.default_model() ? "*" : ""))
              << std::setw(9) << m.version() << std::setw(8)
              << gcnserve::v1::ModelState_Name(m.state()) << std::setw(8)
              << m.architecture() << std::setw(12) << input << std::setw(8)
              << m.num_points() << m.labels_size() << "\n";
  }
  std::cout << "(* the default model)\n";
  return 0;
}

int Health(gcnserve::ClassifierClient& client, const Args& args) {
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = client.Health(args.Get("service", ""), &response);
  if (!status.ok()) {
    std::cout << StatusName(status.error_code()) << ": "
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

}  // namespace

int main(int argc, char** argv) {
  Args args;
  std::string error;
  if (!ParseArgs(argc, argv, args, error)) {
    std::cerr << "gcnctl: " << error << "\n";
    return 2;
  }
  if (args.Has("help") || args.positional.empty()) {
    std::cout << kUsage;
    return args.Has("help") ? 0 : 2;
  }
  gcnserve::ClientOptions options;
  options.target = args.Get("target", options.target);
  if (!ToInt(args.Get("deadline-ms", std::to_string(options.deadline_ms)),
             options.deadline_ms) ||
      options.deadline_ms < 1) {
    std::cerr << "gcnctl: --deadline-ms takes a positive integer\n";
    return 2;
  }
  gcnserve::ClassifierClient client(options);
  const std::string& command = args.positional.front();
  if (command == "classify") return Classify(client, args);
  if (command == "models") return Models(client, args);
  if (command == "health") return Health(client, args);
  std::cerr << "gcnctl: unknown command '" << command << "'; see --help\n";
  return 2;
}
