// gcnctl classify FILE...: each image's top classes, and with --overlay a
// picture of what the model looked at.
#include <unistd.h>

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "client/gcnctl/command.h"
#include "client/gcnctl/flags.h"
#include "client/overlay_renderer.h"
#include "client/progress.h"
#include "proto/graph_detail.h"

namespace gcnserve::gcnctl {
namespace {

namespace fs = std::filesystem;

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

}  // namespace

int Classify(ClassifierClient& client, const Invocation& invocation) {
  const std::vector<std::string>& files = invocation.operands;
  if (files.empty()) {
    std::cerr << "gcnctl classify: name at least one image file\n";
    return 2;
  }
  v1::ClassifyRequest request;
  request.set_model(absl::GetFlag(FLAGS_model));
  request.set_top_k(absl::GetFlag(FLAGS_top_k));
  request.set_version(absl::GetFlag(FLAGS_version));
  request.set_max_edges_per_node(absl::GetFlag(FLAGS_max_edges));
  const std::string overlay_flag = absl::GetFlag(FLAGS_overlay);
  const bool overlay = !overlay_flag.empty();
  // The overlay draws edges and the heat map: ask for them by default.
  const std::string graph = invocation.Given("graph")
                                ? absl::GetFlag(FLAGS_graph)
                            : overlay ? "full"
                                      : "points";
  request.set_graph(*ParseGraphDetail(graph));  // checked by Flags()
  const bool json = absl::GetFlag(FLAGS_json);

  const fs::path overlay_dir = overlay_flag;
  std::set<std::string> overlay_names;
  OverlayRenderer renderer;
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
  Progress progress(
      "classify", static_cast<int64_t>(files.size()), std::cerr,
      files.size() > 1 && ShowProgress() && !isatty(STDOUT_FILENO));

  int failures = 0;
  for (const std::string& file : files) {
    std::string bytes;
    v1::ClassifyResponse response;
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
          picture.ok()
              ? WritePng(*picture, overlay_path = OverlayPath(overlay_dir, file,
                                                              overlay_names))
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
        line["error"] = {{"code", StatusCodeName(status.error_code())},
                         {"message", status.error_message()}};
      }
      if (!overlay_path.empty()) line["overlay"] = overlay_path;
      if (!overlay_error.empty()) line["overlay_error"] = overlay_error;
      std::cout << line.dump() << "\n";
      continue;
    }
    if (!status.ok()) {
      std::cout << file << ": " << StatusCodeName(status.error_code()) << ": "
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

}  // namespace gcnserve::gcnctl
