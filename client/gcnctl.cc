// gcnctl: the command-line client of gcnserve.
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "client/bench.h"
#include "client/bench_report.h"
#include "client/classifier_client.h"
#include "client/evaluator.h"
#include "client/overlay_renderer.h"
#include "client/progress.h"

namespace {

namespace fs = std::filesystem;

constexpr char kUsage[] = R"(gcnctl: the client of gcnserve.

Usage: gcnctl [CONNECTION OPTIONS] COMMAND ...

Commands:
  classify FILE... [--model NAME] [--version N] [--top-k N]
                   [--graph none|points|full] [--max-edges N] [--json]
                   [--overlay DIR]
      Classifies each image file and prints its top classes (with --json,
      one JSON object per file and line: {"file", "response"} or
      {"file", "error": {"code", "message"}}). --overlay DIR also writes
      DIR/<name>.png: the image (enlarged when small) with the interest
      points (size = attention score, colour = feature level), each point's
      strongest edges (opacity = weight), the top classes, and a heat map of
      the adjacency; it asks for --graph full unless --graph is given.
  models [--json]
      Lists the models the server serves.
  health [--service NAME]
      Prints the server's health ("" or gcnserve.v1.Classifier); exit 0 only
      when SERVING.
  eval DIR [--model NAME] [--version N] [--concurrency N] [--json]
      Accuracy of a model on DIR, which holds one subfolder of images per
      class index (DIR/0/*.png, DIR/1/*.png, ...), with a confusion matrix.
  bench FILE|DIR... [--model NAME] [--version N] [--graph none|points|full]
                    [--top-k N] [LOAD] [MEASUREMENT] [--format table|csv|json]
      A load generator (after Triton's perf_analyzer). The images (files, or
      every image under a folder) are read once and sent in turn. Per load
      level it reports throughput, latency (avg, p50, p90, p95, p99, max),
      errors by status code, the server-side split from the responses'
      timing (queue, preprocess, inference, server total, mean batch size),
      and its own CPU use.
    LOAD, one of:
      --concurrency LEVELS  closed loop: requests in flight (default 1:16)
      --rate LEVELS         open loop: requests per second
        --arrivals constant|poisson   (default constant)
        --max-outstanding N  in flight at most; later ones are skipped
                             and counted (default 1024)
      LEVELS is a list 1,2,4,8 or a range START:END[:STEP], STEP a number
      to add or xN to multiply by (default x2): 1:64 is 1,2,4,...,64.
      --streaming           ClassifyStream instead of Classify: closed loop,
                            one stream per unit of concurrency; open loop,
                            --streams N streams (default 1)
    MEASUREMENT:
      --warmup-s S          unmeasured load before each level (default 1)
      --window-ms N         measurement window (default 2000)
      --stable-windows N    windows that must agree (default 3)
      --stability PCT       on throughput and p50 within +-PCT% (default 10)
      --max-windows N       give up on stability after N (default 10)
      --duration-s S        instead: one window of S seconds per level
      --seed N              of the Poisson arrivals (default 1)
    --json is --format json. Exit 0 only when no request failed.

Connection options:
  --target ADDRESSES  host:port (default 127.0.0.1:50051); several, spread
                      round-robin: 127.0.0.1:50051,127.0.0.1:50052 or
                      ipv4:127.0.0.1:50051,127.0.0.1:50052; or a gRPC URI
                      such as dns:///gcnserve:50051 (round-robin over every
                      address the name resolves to)
  --deadline-ms N     deadline of every call (default 10000)
  --tls               TLS, trusting the system's roots
  --tls-ca FILE       TLS, trusting the PEM roots in FILE
  --tls-cert FILE --tls-key FILE   client certificate and key (mutual TLS)
  --tls-server-name NAME           name to check the certificate against
  --compression none|gzip|deflate  compress what is sent (default none)
  --max-message-bytes N            largest message sent or received
                                   (default 67108864)
  --no-progress       no progress line (it shows only on a terminal anyway)

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
  static const std::set<std::string> kSwitches = {"json", "help", "tls",
                                                  "streaming", "no-progress"};
  return kSwitches.count(name) > 0;
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

// Options a command accepts, besides the connection options; anything else
// is a usage error rather than silently ignored.
bool CheckOptions(const Args& args, const std::string& command,
                  const std::set<std::string>& allowed) {
  static const std::set<std::string> kConnection = {
      "target",          "deadline-ms", "tls",
      "tls-ca",          "tls-cert",    "tls-key",
      "tls-server-name", "compression", "max-message-bytes",
      "no-progress",     "help"};
  for (const auto& [name, value] : args.options) {
    if (!kConnection.count(name) && !allowed.count(name)) {
      std::cerr << "gcnctl " << command << ": unknown option --" << name
                << "; see --help\n";
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

bool ToDouble(const std::string& text, double& out) {
  try {
    size_t used;
    out = std::stod(text, &used);
    return used == text.size() && std::isfinite(out);
  } catch (const std::exception&) {
    return false;
  }
}

// Reads --NAME as an int in [low, high] into `out` (left alone when absent).
bool IntOption(const Args& args, const std::string& command,
               const std::string& name, int low, int high, int& out) {
  if (!args.Has(name)) return true;
  int value;
  if (!ToInt(args.Get(name, ""), value) || value < low || value > high) {
    std::cerr << "gcnctl " << command << ": --" << name
              << " takes a whole number from " << low << " to " << high << "\n";
    return false;
  }
  out = value;
  return true;
}

bool SecondsOption(const Args& args, const std::string& command,
                   const std::string& name, std::chrono::milliseconds& out) {
  if (!args.Has(name)) return true;
  double seconds;
  if (!ToDouble(args.Get(name, ""), seconds) || seconds < 0 ||
      seconds > 86400) {
    std::cerr << "gcnctl " << command << ": --" << name
              << " takes seconds from 0 to 86400\n";
    return false;
  }
  out = std::chrono::milliseconds(std::llround(seconds * 1000));
  return true;
}

bool GraphOption(const Args& args, const std::string& command,
                 const std::string& fallback, gcnserve::v1::GraphDetail& out) {
  std::string graph = args.Get("graph", fallback);
  if (graph == "none") {
    out = gcnserve::v1::GRAPH_DETAIL_NONE;
  } else if (graph == "points") {
    out = gcnserve::v1::GRAPH_DETAIL_POINTS;
  } else if (graph == "full") {
    out = gcnserve::v1::GRAPH_DETAIL_FULL;
  } else {
    std::cerr << "gcnctl " << command << ": --graph is none, points or full\n";
    return false;
  }
  return true;
}

bool ReadFile(const std::string& path, std::string& bytes) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  bytes = text.str();
  return static_cast<bool>(in);
}

bool ShowProgress(const Args& args) {
  return !args.Has("no-progress") && gcnserve::Progress::StderrIsTerminal();
}

nlohmann::json ToJson(const google::protobuf::Message& message) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  google::protobuf::util::MessageToJsonString(message, &text, options);
  return nlohmann::json::parse(text);
}

// A PNG path in `dir` named after `file`, not one handed out before.
std::string OverlayPath(const fs::path& dir, const std::string& file,
                        std::set<std::string>& used) {
  std::string stem = fs::path(file).stem().string();
  std::string name = stem + ".png";
  for (int n = 2; used.count(name); ++n) {
    name = stem + "_" + std::to_string(n) + ".png";
  }
  used.insert(name);
  return (dir / name).string();
}

int Classify(gcnserve::ClassifierClient& client, const Args& args) {
  if (!CheckOptions(args, "classify",
                    {"model", "version", "top-k", "graph", "max-edges", "json",
                     "overlay"})) {
    return 2;
  }
  std::vector<std::string> files(args.positional.begin() + 1,
                                 args.positional.end());
  if (files.empty()) {
    std::cerr << "gcnctl classify: name at least one image file\n";
    return 2;
  }
  gcnserve::v1::ClassifyRequest request;
  request.set_model(args.Get("model", ""));
  int top_k = 5, version = 0, max_edges = 0;
  if (!IntOption(args, "classify", "top-k", 0, 100000, top_k) ||
      !IntOption(args, "classify", "version", 0, 1 << 30, version) ||
      !IntOption(args, "classify", "max-edges", 0, 100000, max_edges)) {
    return 2;
  }
  request.set_top_k(top_k);
  request.set_version(version);
  request.set_max_edges_per_node(max_edges);
  const bool overlay = args.Has("overlay");
  gcnserve::v1::GraphDetail graph;
  // The overlay draws edges and the heat map: ask for them by default.
  if (!GraphOption(args, "classify", overlay ? "full" : "points", graph)) {
    return 2;
  }
  request.set_graph(graph);
  const bool json = args.Has("json");

  fs::path overlay_dir = args.Get("overlay", "");
  std::set<std::string> overlay_names;
  gcnserve::OverlayRenderer renderer;
  if (overlay) {
    std::error_code error;
    fs::create_directories(overlay_dir, error);
    if (!fs::is_directory(overlay_dir)) {
      std::cerr << "gcnctl classify: cannot make the folder " << overlay_dir
                << "\n";
      return 1;
    }
  }
  // Results are lines on stdout; the progress line only helps when those go
  // to a file.
  gcnserve::Progress progress(
      "classify", static_cast<int64_t>(files.size()), std::cerr,
      files.size() > 1 && ShowProgress(args) && !isatty(STDOUT_FILENO));

  int failures = 0;
  for (const std::string& file : files) {
    std::string bytes;
    gcnserve::v1::ClassifyResponse response;
    grpc::Status status;
    if (!ReadFile(file, bytes)) {
      status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "cannot read the file");
    } else {
      request.set_image(bytes);
      request.set_request_id(file);
      status = client.Classify(request, &response);
    }
    std::string overlay_path, overlay_error;
    if (status.ok() && overlay) {
      auto picture = renderer.Render(bytes, response);
      absl::Status written =
          picture.ok() ? gcnserve::WritePng(
                             *picture, overlay_path = OverlayPath(
                                           overlay_dir, file, overlay_names))
                       : picture.status();
      if (!written.ok()) {
        overlay_error = std::string(written.message());
        overlay_path.clear();
        ++failures;
      }
    }
    if (!status.ok()) ++failures;
    progress.Add();
    if (json) {
      nlohmann::json line = {{"file", file}};
      if (status.ok()) {
        line["response"] = ToJson(response);
      } else {
        line["error"] = {
            {"code", gcnserve::StatusCodeName(status.error_code())},
            {"message", status.error_message()}};
      }
      if (!overlay_path.empty()) line["overlay"] = overlay_path;
      if (!overlay_error.empty()) line["overlay_error"] = overlay_error;
      std::cout << line.dump() << "\n";
      continue;
    }
    if (!status.ok()) {
      std::cout << file << ": " << gcnserve::StatusCodeName(status.error_code())
                << ": " << status.error_message() << "\n";
      continue;
    }
    std::cout << file << ":";
    for (const auto& c : response.classes()) {
      std::cout << "  " << c.label() << " " << std::fixed
                << std::setprecision(3) << c.probability();
    }
    std::cout << "   [" << response.model() << " v" << response.version()
              << ", " << response.points_size() << " points, batch "
              << response.timing().batch_size() << ", " << std::setprecision(1)
              << response.timing().total_us() / 1000.0 << " ms]";
    if (!overlay_path.empty()) std::cout << " -> " << overlay_path;
    if (!overlay_error.empty())
      std::cout << " overlay failed: " << overlay_error;
    std::cout << "\n";
  }
  progress.Finish();
  return failures == 0 ? 0 : 1;
}

int Models(gcnserve::ClassifierClient& client, const Args& args) {
  if (!CheckOptions(args, "models", {"json"})) return 2;
  gcnserve::v1::ListModelsResponse response;
  grpc::Status status = client.ListModels(&response);
  if (!status.ok()) {
    std::cerr << "gcnctl models: "
              << gcnserve::StatusCodeName(status.error_code()) << ": "
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
            << std::setw(9) << "CLASSES" << "DIGEST\n";
  for (const auto& m : response.models()) {
    std::string input = std::to_string(m.input_width()) + "x" +
                        std::to_string(m.input_height()) + "x" +
                        std::to_string(m.input_channels());
    std::cout << std::setw(16)
              << (m.name() + (m.name() == response.default_model() ? "*" : ""))
              << std::setw(9) << m.version() << std::setw(8)
              << gcnserve::v1::ModelState_Name(m.state()).substr(sizeof("MODEL_STATE_") - 1)
              << std::setw(8)
              << m.architecture() << std::setw(12) << input << std::setw(8)
              << m.num_points() << std::setw(9) << m.labels_size()
              << m.digest() << "\n";
    if (m.state() == gcnserve::v1::MODEL_STATE_FAILED) {
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

int Health(gcnserve::ClassifierClient& client, const Args& args) {
  if (!CheckOptions(args, "health", {"service"})) return 2;
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = client.Health(args.Get("service", ""), &response);
  if (!status.ok()) {
    std::cout << gcnserve::StatusCodeName(status.error_code()) << ": "
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

void PrintEval(const gcnserve::EvalResult& result) {
  auto label = [&](size_t i) {
    return i < result.labels.size() ? result.labels[i] : std::to_string(i);
  };
  std::cout << std::fixed << std::setprecision(2) << "accuracy "
            << result.accuracy() * 100 << "% (" << result.correct << " of "
            << result.ok << " answered; " << result.images << " images, "
            << result.images - result.ok << " failed)\n\n";
  std::cout << std::left << std::setw(6) << "CLASS" << std::setw(22) << "LABEL"
            << std::right << std::setw(8) << "IMAGES" << std::setw(9)
            << "CORRECT" << std::setw(10) << "ACCURACY"
            << "\n";
  for (size_t i = 0; i < result.confusion.size(); ++i) {
    int64_t images = 0;
    for (int64_t n : result.confusion[i]) images += n;
    if (images == 0) continue;
    int64_t correct = result.confusion[i][i];
    std::cout << std::left << std::setw(6) << i << std::setw(22) << label(i)
              << std::right << std::setw(8) << images << std::setw(9) << correct
              << std::setw(9) << 100.0 * correct / images << "%\n";
  }
  if (result.confusion.size() <= 20) {
    std::cout << "\nconfusion (rows: true class, columns: predicted)\n     ";
    for (size_t j = 0; j < result.confusion.size(); ++j) {
      std::cout << std::setw(6) << j;
    }
    std::cout << "\n";
    for (size_t i = 0; i < result.confusion.size(); ++i) {
      std::cout << std::setw(5) << i;
      for (int64_t n : result.confusion[i]) std::cout << std::setw(6) << n;
      std::cout << "\n";
    }
  }
  for (const auto& [code, count] : result.errors) {
    std::cout << "errors: " << code << " " << count << "\n";
  }
  for (const std::string& failure : result.failures) {
    std::cout << "  " << failure << "\n";
  }
}

int Eval(gcnserve::ClassifierClient& client, const Args& args) {
  if (!CheckOptions(args, "eval",
                    {"model", "version", "concurrency", "json"})) {
    return 2;
  }
  if (args.positional.size() != 2) {
    std::cerr << "gcnctl eval: name one folder (DIR/<class index>/*.png)\n";
    return 2;
  }
  gcnserve::EvalOptions options;
  options.model = args.Get("model", "");
  int version = 0;
  if (!IntOption(args, "eval", "version", 0, 1 << 30, version) ||
      !IntOption(args, "eval", "concurrency", 1, 1024, options.concurrency)) {
    return 2;
  }
  options.version = version;
  auto images = gcnserve::Evaluator::FindImages(args.positional[1]);
  if (!images.ok()) {
    std::cerr << "gcnctl eval: " << images.status().message() << "\n";
    return 2;
  }
  gcnserve::Progress progress("eval", static_cast<int64_t>(images->size()),
                              std::cerr, ShowProgress(args));
  gcnserve::Evaluator evaluator(&client, options);
  gcnserve::EvalResult result = evaluator.Run(*images, &progress);
  progress.Finish();
  if (args.Has("json")) {
    nlohmann::json classes = nlohmann::json::array();
    for (size_t i = 0; i < result.confusion.size(); ++i) {
      int64_t total = 0;
      for (int64_t n : result.confusion[i]) total += n;
      classes.push_back(
          {{"index", i},
           {"label", i < result.labels.size() ? result.labels[i] : ""},
           {"images", total},
           {"correct", result.confusion[i][i]}});
    }
    nlohmann::json out = {
        {"images", result.images},   {"ok", result.ok},
        {"correct", result.correct}, {"accuracy", result.accuracy()},
        {"errors", result.errors},   {"failures", result.failures},
        {"classes", classes},        {"confusion", result.confusion}};
    std::cout << out.dump(2) << "\n";
  } else {
    PrintEval(result);
  }
  return result.ok == result.images ? 0 : 1;
}

// The image files named: files as given, folders searched (recursively) for
// image files, in name order.
bool CollectImages(const std::vector<std::string>& names,
                   std::vector<std::string>& files) {
  static const std::set<std::string> kExtensions = {
      ".png", ".jpg",  ".jpeg", ".bmp", ".webp",
      ".tif", ".tiff", ".ppm",  ".pgm", ".pnm"};
  for (const std::string& name : names) {
    std::error_code error;
    if (!fs::is_directory(name, error)) {
      files.push_back(name);
      continue;
    }
    std::vector<std::string> found;
    for (const auto& entry : fs::recursive_directory_iterator(name, error)) {
      std::string extension = entry.path().extension().string();
      std::transform(extension.begin(), extension.end(), extension.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      if (entry.is_regular_file() && kExtensions.count(extension)) {
        found.push_back(entry.path().string());
      }
    }
    if (found.empty()) {
      std::cerr << "gcnctl bench: no image files under " << name << "\n";
      return false;
    }
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return true;
}

int Bench(gcnserve::ClassifierClient& client, const Args& args) {
  if (!CheckOptions(
          args, "bench",
          {"model", "version", "graph", "top-k", "concurrency", "rate",
           "arrivals", "max-outstanding", "streaming", "streams", "warmup-s",
           "window-ms", "stable-windows", "stability", "max-windows",
           "duration-s", "seed", "format", "json"})) {
    return 2;
  }
  const std::string command = "bench";
  gcnserve::BenchOptions options;
  std::vector<std::string> files;
  if (args.positional.size() < 2) {
    std::cerr << "gcnctl bench: name the images to send (files or folders)\n";
    return 2;
  }
  if (!CollectImages({args.positional.begin() + 1, args.positional.end()},
                     files)) {
    return 2;
  }
  for (const std::string& file : files) {
    std::string bytes;
    if (!ReadFile(file, bytes)) {
      std::cerr << "gcnctl bench: cannot read " << file << "\n";
      return 2;
    }
    options.images.push_back(std::move(bytes));
  }
  options.model = args.Get("model", "");
  int version = 0, window_ms = static_cast<int>(options.window.count()),
      seed = static_cast<int>(options.seed);
  if (!IntOption(args, command, "version", 0, 1 << 30, version) ||
      !IntOption(args, command, "top-k", 0, 100000, options.top_k) ||
      !IntOption(args, command, "max-outstanding", 1, 1 << 20,
                 options.max_outstanding) ||
      !IntOption(args, command, "streams", 1, 1024, options.streams) ||
      !IntOption(args, command, "window-ms", 1, 3600000, window_ms) ||
      !IntOption(args, command, "stable-windows", 1, 100,
                 options.stable_windows) ||
      !IntOption(args, command, "max-windows", 1, 1000, options.max_windows) ||
      !IntOption(args, command, "seed", 0, 1 << 30, seed) ||
      !SecondsOption(args, command, "warmup-s", options.warmup) ||
      !SecondsOption(args, command, "duration-s", options.duration) ||
      !GraphOption(args, command, "points", options.graph)) {
    return 2;
  }
  options.version = version;
  options.window = std::chrono::milliseconds(window_ms);
  options.seed = static_cast<uint64_t>(seed);
  if (args.Has("stability")) {
    double percent;
    if (!ToDouble(args.Get("stability", ""), percent) || percent <= 0 ||
        percent > 100) {
      std::cerr << "gcnctl bench: --stability is a percentage above 0\n";
      return 2;
    }
    options.stability = percent / 100;
  }
  options.streaming = args.Has("streaming");
  if (args.Has("concurrency") && args.Has("rate")) {
    std::cerr << "gcnctl bench: --concurrency (closed loop) or --rate (open "
                 "loop), not both\n";
    return 2;
  }
  std::string levels = args.Get("concurrency", "1:16");
  if (args.Has("rate")) {
    options.mode = gcnserve::LoadMode::kOpenLoop;
    levels = args.Get("rate", "");
  }
  auto parsed = gcnserve::ParseLevels(levels);
  if (!parsed.ok()) {
    std::cerr << "gcnctl bench: " << parsed.status().message() << "\n";
    return 2;
  }
  options.levels = *parsed;
  std::string arrivals = args.Get("arrivals", "constant");
  if (arrivals == "poisson") {
    options.arrivals = gcnserve::Arrivals::kPoisson;
  } else if (arrivals != "constant") {
    std::cerr << "gcnctl bench: --arrivals is constant or poisson\n";
    return 2;
  }
  std::string format = args.Has("json") ? "json" : args.Get("format", "table");
  if (format != "table" && format != "csv" && format != "json") {
    std::cerr << "gcnctl bench: --format is table, csv or json\n";
    return 2;
  }

  auto bench = gcnserve::Bench::Create(&client, std::move(options));
  if (!bench.ok()) {
    std::cerr << "gcnctl bench: " << bench.status().message() << "\n";
    return 2;
  }
  gcnserve::Progress progress("bench", 0, std::cerr, ShowProgress(args));
  progress.set_show_rate(false);  // windows, not requests
  gcnserve::BenchResult result = (*bench)->Run(&progress);
  gcnserve::BenchReport report(result);
  if (format == "json") {
    std::cout << report.Json();
  } else if (format == "csv") {
    std::cout << report.Csv();
  } else {
    std::cout << report.Table();
  }
  for (const gcnserve::BenchLevel& level : result.levels) {
    if (level.summary.ok != level.summary.requests) return 1;
  }
  return 0;
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
  if (!ToInt(args.Get("max-message-bytes",
                      std::to_string(options.max_message_bytes)),
             options.max_message_bytes) ||
      options.max_message_bytes < 1) {
    std::cerr << "gcnctl: --max-message-bytes takes a positive integer\n";
    return 2;
  }
  auto compression =
      gcnserve::ParseCompression(args.Get("compression", "none"));
  if (!compression.ok()) {
    std::cerr << "gcnctl: " << compression.status().message() << "\n";
    return 2;
  }
  options.compression = *compression;
  options.tls.enabled = args.Has("tls");
  options.tls.ca_file = args.Get("tls-ca", "");
  options.tls.cert_file = args.Get("tls-cert", "");
  options.tls.key_file = args.Get("tls-key", "");
  options.tls.server_name = args.Get("tls-server-name", "");
  auto client = gcnserve::ClassifierClient::Create(options);
  if (!client.ok()) {
    std::cerr << "gcnctl: " << client.status().message() << "\n";
    return 2;
  }
  const std::string& command = args.positional.front();
  if (command == "classify") return Classify(**client, args);
  if (command == "models") return Models(**client, args);
  if (command == "health") return Health(**client, args);
  if (command == "eval") return Eval(**client, args);
  if (command == "bench") return Bench(**client, args);
  std::cerr << "gcnctl: unknown command '" << command << "'; see --help\n";
  return 2;
}
