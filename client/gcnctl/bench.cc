// gcnctl bench FILE|DIR...: a load generator (after Triton's perf_analyzer)
// over client/bench.h, its report from client/bench_report.h.
#include "client/bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "client/bench_report.h"
#include "client/gcnctl/command.h"
#include "client/gcnctl/flags.h"
#include "client/progress.h"
#include "proto/graph_detail.h"

namespace gcnserve::gcnctl {
namespace {

namespace fs = std::filesystem;

std::chrono::milliseconds Milliseconds(double seconds) {
  return std::chrono::milliseconds(std::llround(seconds * 1000));
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

}  // namespace

int Bench(ClassifierClient& client, const Invocation& invocation) {
  BenchOptions options;
  std::vector<std::string> files;
  if (invocation.operands.empty()) {
    std::cerr << "gcnctl bench: name the images to send (files or folders)\n";
    return 2;
  }
  if (!CollectImages(invocation.operands, files)) return 2;
  for (const std::string& file : files) {
    std::string bytes;
    if (!ReadFile(file, bytes)) {
      std::cerr << "gcnctl bench: cannot read " << file << "\n";
      return 2;
    }
    options.images.push_back(std::move(bytes));
  }
  // Each flag was checked as it was read (Flags()).
  options.model = absl::GetFlag(FLAGS_model);
  options.version = absl::GetFlag(FLAGS_version);
  options.top_k = absl::GetFlag(FLAGS_top_k);
  options.graph = *ParseGraphDetail(absl::GetFlag(FLAGS_graph));
  options.max_outstanding = absl::GetFlag(FLAGS_max_outstanding);
  options.streams = absl::GetFlag(FLAGS_streams);
  options.warmup = Milliseconds(absl::GetFlag(FLAGS_warmup_s));
  options.window = std::chrono::milliseconds(absl::GetFlag(FLAGS_window_ms));
  options.stable_windows = absl::GetFlag(FLAGS_stable_windows);
  options.stability = absl::GetFlag(FLAGS_stability) / 100;
  options.max_windows = absl::GetFlag(FLAGS_max_windows);
  options.duration = Milliseconds(absl::GetFlag(FLAGS_duration_s));
  options.seed = static_cast<uint64_t>(absl::GetFlag(FLAGS_seed));
  options.streaming = absl::GetFlag(FLAGS_streaming);
  if (invocation.Given("concurrency") && invocation.Given("rate")) {
    std::cerr << "gcnctl bench: --concurrency (closed loop) or --rate (open "
                 "loop), not both\n";
    return 2;
  }
  std::string levels = invocation.Given("concurrency")
                           ? absl::GetFlag(FLAGS_concurrency)
                           : "1:16";
  if (invocation.Given("rate")) {
    options.mode = LoadMode::kOpenLoop;
    levels = absl::GetFlag(FLAGS_rate);
  }
  auto parsed = ParseLevels(levels);
  if (!parsed.ok()) {
    std::cerr << "gcnctl bench: " << parsed.status().message() << "\n";
    return 2;
  }
  options.levels = *parsed;
  if (absl::GetFlag(FLAGS_arrivals) == "poisson") {
    options.arrivals = Arrivals::kPoisson;
  }
  const std::string format =
      absl::GetFlag(FLAGS_json) ? "json" : absl::GetFlag(FLAGS_format);

  auto bench = gcnserve::Bench::Create(&client, std::move(options));
  if (!bench.ok()) {
    std::cerr << "gcnctl bench: " << bench.status().message() << "\n";
    return 2;
  }
  Progress progress("bench", 0, std::cerr, ShowProgress());
  progress.set_show_rate(false);  // windows, not requests
  BenchResult result = (*bench)->Run(&progress);
  BenchReport report(result);
  if (format == "json") {
    std::cout << report.Json();
  } else if (format == "csv") {
    std::cout << report.Csv();
  } else {
    std::cout << report.Table();
  }
  for (const BenchLevel& level : result.levels) {
    if (level.summary.ok != level.summary.requests) return 1;
  }
  return 0;
}

}  // namespace gcnserve::gcnctl
