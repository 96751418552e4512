// gcnserve_limit: what the server could do at best on this machine, measured
// in-process through the server's own parts, no gRPC. Every served figure in
// bench/README.md is a ratio to one of these.
//
//   gcnserve_limit forward EXPORT [--batch-sizes 1,2,4,...] [--seconds S]
//                  [--instances N] [--intra-op-threads N] [--as-saved] [--json]
//     Forward passes per batch size through TorchModelRunner::Run, as the
//     server's batch threads call it, with the server's settings: its
//     instances side by side, each on a thread of its own with its intra-op
//     threads (0, the defaults: one instance per core, with one thread
//     each; ModelConfig::Instances), the module optimized for inference:
//     median ms a pass, images/s summed over the instances. `--instances 1`
//     gives a lone request's forward; `--as-saved` runs the export as saved
//     (config.json's "optimize": false).
//   gcnserve_limit settings EXPORT [--instances N] [--intra-op-threads N]
//                  [--max-batch-size N] [--as-saved] [--json]
//     What the server chooses for the export where its flags and config.json
//     leave it open, by the same loader (LoadTorchModel): the largest batch
//     from the warm-up timings, the instances over one copy of the weights,
//     the threads; with the time the load and warm-up took and the
//     process's resident memory after it (start-up and memory at N
//     instances).
//   gcnserve_limit preprocess EXPORT FILE|DIR... [--seconds S] [--json]
//     Per image of the files (every regular file under a DIR): the server's
//     preprocessing (ImagePreprocessor::Process for the export's input), and
//     for JPEGs the decode floor: libjpeg's entropy decoding alone.
//     One thread, each file in turn, until --seconds have gone by; freed
//     memory is kept (KeepFreedPages), so neither counts page faults.
//
// --json prints one JSON object instead of the table. Exit status 0 when
// everything ran, 1 when something failed, 2 for a usage error.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bench/forward_throughput.h"
#include "bench/jpeg_entropy_decoder.h"
#include "server/base/allocator.h"
#include "server/base/cpu_count.h"
#include "server/decode/image_preprocessor.h"
#include "server/models/model_config.h"
#include "server/models/torch_loader.h"
#include "server/runner/torch_model_runner.h"

namespace gcnserve {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct Flags {
  std::string mode;
  std::string model;
  std::vector<std::string> paths;
  std::vector<int> batch_sizes = {1, 2, 4, 8, 16, 32, 64};
  double seconds = 2;
  int instances = 0;
  int intra_op_threads = 0;
  int max_batch_size = 0;
  bool optimize = true;
  bool json = false;
};

int Usage(const std::string& why) {
  std::cerr << "gcnserve_limit: " << why << "\nusage:\n"
            << "  gcnserve_limit forward EXPORT [--batch-sizes 1,2,4,...] "
               "[--seconds S] [--instances N] [--intra-op-threads N] [--as-saved] [--json]\n"
            << "  gcnserve_limit settings EXPORT [--instances N] [--intra-op-threads N] "
               "[--max-batch-size N] [--as-saved] [--json]\n"
            << "  gcnserve_limit preprocess EXPORT FILE|DIR... [--seconds S] [--json]\n";
  return 2;
}

double MsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - start)
      .count();
}

int Forward(const Flags& flags) {
  // The server's settings (ModelConfig, server/app/server.cc): its instances,
  // each with its threads, run side by side.
  ModelConfig config;
  config.instances = flags.instances;
  config.intra_op_threads = flags.intra_op_threads;
  const int cores = UsableCores();
  const int instances = config.Instances(cores);
  const int threads = config.ThreadsPerInstance(cores);
  TorchModelRunner::SetIntraOpThreads(threads);
  TorchModelRunner::Options options;
  options.intra_op_threads = threads;
  options.optimize = flags.optimize;
  // One loaded module shared by the instances, as the server's loader does.
  std::vector<std::unique_ptr<TorchModelRunner>> runners;
  std::vector<ModelRunner*> instance_runners;
  auto loaded = TorchModelRunner::Load(flags.model, options);
  if (!loaded.ok()) {
    std::cerr << "gcnserve_limit: " << loaded.status().message() << "\n";
    return 1;
  }
  runners.push_back(*std::move(loaded));
  for (int i = 1; i < instances; ++i) runners.push_back(runners.front()->Share());
  for (const auto& runner : runners) instance_runners.push_back(runner.get());
  const auto& runner = runners.front();
  const bool optimized = runner->optimized();
  const InputSpec& in = runner->metadata().input;
  const size_t image_floats = static_cast<size_t>(in.channels) * in.height * in.width;
  // Pseudo-random normalized images: the passes do not depend on content.
  std::mt19937 random(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> images(image_floats * 16);
  for (float& v : images) v = normal(random);

  nlohmann::json rows = nlohmann::json::array();
  double best = 0;
  int best_batch = 0;
  if (!flags.json) {
    std::cout << absl::StrFormat(
        "%s (%s), LibTorch %s, %d instance(s) x %d intra-op thread(s), %s\n%6s %10s %12s\n",
        flags.model, optimized ? "optimized for inference" : "as saved",
        TorchModelRunner::TorchVersion(), instances, threads,
        AllocatorDescription(), "batch", "ms/pass", "images/s");
  }
  for (int batch : flags.batch_sizes) {
    auto figure = MeasureForward(instance_runners, images, image_floats, batch, flags.seconds);
    if (!figure.ok()) {
      std::cerr << "gcnserve_limit: " << figure.status().message() << "\n";
      return 1;
    }
    if (figure->images_per_s > best) best = figure->images_per_s, best_batch = batch;
    rows.push_back({{"batch", batch},
                    {"median_ms", figure->median_ms},
                    {"images_per_s", figure->images_per_s},
                    {"passes", figure->passes}});
    if (!flags.json) {
      std::cout << absl::StrFormat("%6d %10.3f %12.1f\n", batch, figure->median_ms,
                                   figure->images_per_s);
    }
  }
  if (flags.json) {
    std::cout << nlohmann::json{{"model", flags.model},
                                {"torch", TorchModelRunner::TorchVersion()},
                                {"instances", instances},
                                {"intra_op_threads", threads},
                                {"optimized", optimized},
                                {"blas_threads", TorchModelRunner::BlasThreads()},
                                {"allocator", AllocatorDescription()},
                                {"forward", rows},
                                {"best_images_per_s", best},
                                {"best_batch", best_batch}}
                     .dump()
              << "\n";
  } else {
    std::cout << absl::StrFormat("best: %.1f images/s at batch %d\n", best, best_batch);
  }
  return 0;
}

std::vector<std::string> ListFiles(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const std::string& path : paths) {
    if (std::filesystem::is_directory(path)) {
      for (const auto& entry : std::filesystem::recursive_directory_iterator(path)) {
        if (entry.is_regular_file()) files.push_back(entry.path().string());
      }
    } else {
      files.push_back(path);
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

int Preprocess(const Flags& flags) {
  // Neither preprocessing nor the floor should count page faults on the
  // buffers each image frees and the next allocates again.
  KeepFreedPages();
  auto runner = TorchModelRunner::Load(flags.model, {});
  if (!runner.ok()) {
    std::cerr << "gcnserve_limit: " << runner.status().message() << "\n";
    return 1;
  }
  ImagePreprocessor preprocessor((*runner)->metadata().input,
                                 /*max_pixels=*/int64_t{1} << 40);
  std::vector<std::string> files = ListFiles(flags.paths);
  std::vector<std::string> images, jpegs;
  for (const std::string& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    auto header = ImagePreprocessor::ReadHeader(bytes.str());
    if (!header.ok()) continue;  // not an image
    if (header->format == "JPEG") jpegs.push_back(bytes.str());
    images.push_back(bytes.str());
  }
  if (images.empty()) return Usage("no image among the files given");

  // Each file in turn, until the time is up and every file ran twice.
  auto per_image_ms = [&](const std::vector<std::string>& set,
                          auto&& work) -> double {
    if (set.empty()) return 0;
    for (const std::string& bytes : set) work(bytes);  // caches warm
    SteadyClock::time_point start = SteadyClock::now();
    int64_t runs = 0;
    while (runs < 2 * static_cast<int64_t>(set.size()) ||
           MsSince(start) < flags.seconds * 1000 / 2) {
      work(set[runs % set.size()]);
      ++runs;
    }
    return MsSince(start) / runs;
  };
  bool failed = false;
  double preprocess_ms = per_image_ms(images, [&](const std::string& bytes) {
    failed |= !preprocessor.Process(bytes).ok();
  });
  double preprocess_jpeg_ms = per_image_ms(jpegs, [&](const std::string& bytes) {
    failed |= !preprocessor.Process(bytes).ok();
  });
  double floor_ms = per_image_ms(jpegs, [&](const std::string& bytes) {
    failed |= !EntropyDecodeJpeg(bytes).ok();
  });
  if (failed) {
    std::cerr << "gcnserve_limit: an image failed to preprocess or decode\n";
    return 1;
  }
  if (flags.json) {
    nlohmann::json out{{"model", flags.model},
                       {"images", images.size()},
                       {"preprocess_ms", preprocess_ms},
                       {"jpegs", jpegs.size()}};
    if (!jpegs.empty()) {
      out["jpeg_preprocess_ms"] = preprocess_jpeg_ms;
      out["entropy_floor_ms"] = floor_ms;
      out["jpeg_preprocess_over_floor"] = preprocess_jpeg_ms / floor_ms;
    }
    std::cout << out.dump() << "\n";
  } else {
    std::cout << absl::StrFormat("%d images: preprocessing %.3f ms an image\n",
                                 images.size(), preprocess_ms);
    if (!jpegs.empty()) {
      std::cout << absl::StrFormat(
          "%d JPEGs: preprocessing %.3f ms, entropy-decoding floor %.3f ms: %.2fx "
          "the floor\n",
          jpegs.size(), preprocess_jpeg_ms, floor_ms, preprocess_jpeg_ms / floor_ms);
    }
  }
  return 0;
}

// The process's resident memory, in MB (/proc/self/statm).
double ResidentMb() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1048576.0);
}

int Settings(const Flags& flags) {
  ModelConfig config;
  config.instances = flags.instances;
  config.intra_op_threads = flags.intra_op_threads;
  config.batching.max_batch_size = flags.max_batch_size;
  config.optimize = flags.optimize;
  const int cores = UsableCores();
  TorchModelRunner::SetIntraOpThreads(config.ThreadsPerInstance(cores));
  const double before_mb = ResidentMb();
  const auto start = SteadyClock::now();
  absl::StatusOr<LoadedModel> loaded = LoadTorchModel(flags.model, config, cores);
  const double load_ms = MsSince(start);
  if (!loaded.ok()) {
    std::cerr << "gcnserve_limit: " << loaded.status().message() << "\n";
    return 1;
  }
  const double after_mb = ResidentMb();
  if (flags.json) {
    std::cout << nlohmann::json{{"model", flags.model},
                                {"cores", cores},
                                {"instances", loaded->runners.size()},
                                {"max_batch_size", loaded->max_batch_size},
                                {"shared_cores", loaded->shared_cores},
                                {"execution", loaded->execution},
                                {"load_ms", load_ms},
                                {"resident_mb_before", before_mb},
                                {"resident_mb", after_mb}}
                     .dump()
              << "\n";
  } else {
    std::cout << absl::StrFormat(
        "%s on %d core(s): %s\nloaded and warmed in %.0f ms; resident %.0f MB "
        "(%.0f MB before loading)\n",
        flags.model, cores, loaded->execution, load_ms, after_mb, before_mb);
  }
  return 0;
}

int Main(int argc, char** argv) {
  Flags flags;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (arg == "--json") {
      flags.json = true;
    } else if (arg == "--as-saved") {
      flags.optimize = false;
    } else if (arg == "--seconds" && v) {
      flags.seconds = std::atof(v), ++i;
    } else if (arg == "--instances" && v) {
      flags.instances = std::atoi(v), ++i;
    } else if (arg == "--max-batch-size" && v) {
      flags.max_batch_size = std::atoi(v), ++i;
    } else if (arg == "--intra-op-threads" && v) {
      flags.intra_op_threads = std::atoi(v), ++i;
    } else if (arg == "--batch-sizes" && v) {
      flags.batch_sizes.clear();
      for (absl::string_view s : absl::StrSplit(v, ',')) {
        int b = std::atoi(std::string(s).c_str());
        if (b < 1) return Usage("--batch-sizes takes positive integers");
        flags.batch_sizes.push_back(b);
      }
      ++i;
    } else if (arg.rfind("--", 0) == 0) {
      return Usage("unknown or incomplete option " + arg);
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() < 2) return Usage("name a mode and an export");
  flags.mode = positional[0];
  flags.model = positional[1];
  flags.paths.assign(positional.begin() + 2, positional.end());
  if (flags.mode == "forward") return Forward(flags);
  if (flags.mode == "settings") return Settings(flags);
  if (flags.mode == "preprocess") {
    if (flags.paths.empty()) return Usage("preprocess needs files or folders");
    return Preprocess(flags);
  }
  return Usage("unknown mode " + flags.mode);
}

}  // namespace
}  // namespace gcnserve

int main(int argc, char** argv) { return gcnserve::Main(argc, argv); }
