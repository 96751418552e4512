// gcnserve_device_check: runs exports through the server's model runner on
// the CPU and, where LibTorch has CUDA and sees a GPU, on CUDA; checks that
// the answers agree and reports forward throughput per batch size on each.
//
//   gcnserve_device_check [--max-batch-size N] [--seconds S] [--inputs FILE]
//                         [--intra-op-threads N] [--tolerance T] EXPORT...
//
// Every batch size from 1 to --max-batch-size (default 16, the server's on
// CUDA; on the CPU it chooses one per model from its warm-up) runs
// once on each device, the module optimized for inference as the server
// runs it. On the CPU each row of a batch is held to the same image run
// alone, and to the export as saved (not optimized) for the same batch; on
// CUDA each batch is held to the CPU's answer for it: probabilities and
// adjacency within --tolerance (1e-4), the same interest points.
// Throughput (--seconds per size, 0 skips it) is timed at 1, 2, 4, ... and
// the largest size, through TorchModelRunner::Run as the server calls
// it (pinned staging and the one copy back on CUDA included), with the
// server's thread settings.
//
// --inputs: float32 images, back to back, already normalized for the
// exports' input (scripts/pack-gpu-check.sh writes the bundled samples so);
// without it, fixed pseudo-random images. Exit status 0 when every export
// loaded and agreed, 1 otherwise, 2 for a usage error. Needs only LibTorch
// and the runner library (no gRPC, protobuf or OpenCV): scripts/gpu-check.sh
// builds it on a GPU machine.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/forward_throughput.h"
#include "bench/output_comparison.h"
#include "server/runner/torch_model_runner.h"

namespace gcnserve {
namespace {

struct Flags {
  int max_batch_size = 16;  // the server's on CUDA (ModelConfig::kCudaBatch)
  double seconds = 0.5;
  std::string inputs;
  int intra_op_threads = 0;  // 0: one per core, as the server
  float tolerance = 1e-4f;
  std::vector<std::string> exports;
};

int Usage(const std::string& why) {
  std::cerr << "gcnserve_device_check: " << why
            << "\nusage: gcnserve_device_check [--max-batch-size N] [--seconds S]"
               " [--inputs FILE] [--intra-op-threads N] [--tolerance T] EXPORT...\n";
  return 2;
}

std::vector<float> ReadInputs(const std::string& path, size_t image_floats) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                          std::istreambuf_iterator<char>());
  std::vector<float> images(bytes.size() / sizeof(float));
  std::copy_n(bytes.data(), images.size() * sizeof(float),
              reinterpret_cast<char*>(images.data()));
  images.resize(images.size() / image_floats * image_floats);
  return images;
}

std::vector<float> RandomInputs(size_t image_floats, int count) {
  std::mt19937 random(20261129);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> images(image_floats * count);
  for (float& v : images) v = normal(random);
  return images;
}

std::string Describe(const OutputComparison& c) {
  return absl::StrFormat(
      "probabilities %.1e, adjacency %.1e, scores %.1e, same points in %d/%d "
      "images (%d more differ only by a tie at the last place)",
      c.max_probability_diff, c.max_adjacency_diff, c.max_score_diff,
      c.images - c.images_with_other_points - c.images_with_tied_points,
      c.images, c.images_with_tied_points);
}

// The throughput batch sizes: 1, 2, 4, ... and `max`.
std::vector<int> TimedSizes(int max) {
  std::vector<int> sizes;
  for (int b = 1; b < max; b *= 2) sizes.push_back(b);
  sizes.push_back(max);
  return sizes;
}

// `runner`'s answers for every batch size from 1 to `max`, each batch the
// images tiled (TileImages).
absl::StatusOr<std::vector<ModelOutput>> RunEveryBatch(
    TorchModelRunner& runner, const std::vector<float>& images,
    size_t image_floats, int max) {
  std::vector<ModelOutput> batches;
  for (int b = 1; b <= max; ++b) {
    std::vector<float> input = TileImages(images, image_floats, b);
    absl::StatusOr<ModelOutput> out = runner.Run(input.data(), b);
    if (!out.ok()) return out.status();
    batches.push_back(*std::move(out));
  }
  return batches;
}

// Every row of `a`'s batches against the same row of `b`'s.
OutputComparison CompareBatches(const std::vector<ModelOutput>& a,
                                const std::vector<ModelOutput>& b) {
  OutputComparison comparison;
  for (size_t i = 0; i < a.size(); ++i) {
    for (int r = 0; r < a[i].batch; ++r) comparison.Add(a[i], r, b[i], r);
  }
  return comparison;
}

// Checks and times one export; false when it failed or disagreed.
bool CheckExport(const std::string& path, const Flags& flags, bool cuda) {
  TorchModelRunner::Options options;
  options.intra_op_threads = flags.intra_op_threads;
  auto cpu = TorchModelRunner::Load(path, options);
  if (!cpu.ok()) {
    std::cout << path << ": FAILED to load: " << cpu.status().message() << "\n";
    return false;
  }
  const ModelMetadata& meta = (*cpu)->metadata();
  const size_t image_floats = static_cast<size_t>(meta.input.channels) *
                              meta.input.height * meta.input.width;
  std::vector<float> images;
  std::string source = "pseudo-random images";
  if (!flags.inputs.empty()) {
    images = ReadInputs(flags.inputs, image_floats);
    source = absl::StrCat(images.size() / image_floats, " images of ", flags.inputs);
  }
  if (images.empty()) images = RandomInputs(image_floats, 16);
  const int count = static_cast<int>(images.size() / image_floats);
  const int max = flags.max_batch_size;
  std::cout << path << ": " << meta.name << " (" << meta.architecture << ", "
            << meta.input.channels << "x" << meta.input.height << "x"
            << meta.input.width << ", " << meta.num_points << " points), "
            << source << "\n";

  bool ok = true;
  auto fail = [&](const absl::Status& status) {
    std::cout << "  FAILED: " << status.message() << "\n";
    return false;
  };
  auto report = [&](const std::string& what, const OutputComparison& c) {
    const bool agrees = c.Agrees(flags.tolerance);
    ok &= agrees;
    std::cout << "  " << what << ", batches 1.." << max << ": " << Describe(c)
              << (agrees ? ": ok" : ": DISAGREE") << "\n";
  };
  // The CPU's answers, each image alone and every batch size.
  std::vector<ModelOutput> alone;
  for (int i = 0; i < std::min(count, max); ++i) {
    auto out = (*cpu)->Run(&images[i * image_floats], 1);
    if (!out.ok()) return fail(out.status());
    alone.push_back(*std::move(out));
  }
  auto cpu_batches = RunEveryBatch(**cpu, images, image_floats, max);
  if (!cpu_batches.ok()) return fail(cpu_batches.status());
  OutputComparison cpu_rows;
  for (const ModelOutput& out : *cpu_batches) {
    for (int r = 0; r < out.batch; ++r) cpu_rows.Add(out, r, alone[r % alone.size()], 0);
  }
  report("cpu against each image alone", cpu_rows);
  if (!(*cpu)->optimized()) {
    std::cout << "  not optimized for inference: " << (*cpu)->not_optimized_why() << "\n";
    ok = false;
  }

  // The same batches through the export as saved.
  TorchModelRunner::Options saved_options = options;
  saved_options.optimize = false;
  auto saved = TorchModelRunner::Load(path, saved_options);
  if (!saved.ok()) return fail(saved.status());
  auto saved_batches = RunEveryBatch(**saved, images, image_floats, max);
  if (!saved_batches.ok()) return fail(saved_batches.status());
  report("cpu, optimized against as saved", CompareBatches(*cpu_batches, *saved_batches));

  std::unique_ptr<TorchModelRunner> gpu;
  if (cuda) {
    TorchModelRunner::Options gpu_options = options;
    gpu_options.device = "cuda";
    auto loaded = TorchModelRunner::Load(path, gpu_options);
    if (!loaded.ok()) return fail(loaded.status());
    gpu = *std::move(loaded);
    auto gpu_batches = RunEveryBatch(*gpu, images, image_floats, max);
    if (!gpu_batches.ok()) return fail(gpu_batches.status());
    report("cuda against cpu", CompareBatches(*gpu_batches, *cpu_batches));
  }

  if (flags.seconds > 0) {
    std::cout << absl::StrFormat("  %6s %12s %10s", "batch", "cpu img/s", "cpu ms")
              << (gpu ? absl::StrFormat(" %12s %10s %9s", "cuda img/s", "cuda ms",
                                        "cuda/cpu")
                      : "")
              << "\n";
    for (int b : TimedSizes(max)) {
      auto c = MeasureForward({cpu->get()}, images, image_floats, b, flags.seconds);
      if (!c.ok()) return fail(c.status());
      std::cout << absl::StrFormat("  %6d %12.1f %10.3f", b, c->images_per_s,
                                   c->median_ms);
      if (gpu) {
        auto g = MeasureForward({gpu.get()}, images, image_floats, b, flags.seconds);
        if (!g.ok()) return fail(g.status());
        std::cout << absl::StrFormat(" %12.1f %10.3f %9.2f", g->images_per_s,
                                     g->median_ms,
                                     g->images_per_s / c->images_per_s);
      }
      std::cout << "\n";
    }
  }
  return ok;
}

int Main(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (arg == "--max-batch-size" && (v = value())) {
      flags.max_batch_size = std::atoi(v);
    } else if (arg == "--seconds" && (v = value())) {
      flags.seconds = std::atof(v);
    } else if (arg == "--inputs" && (v = value())) {
      flags.inputs = v;
    } else if (arg == "--intra-op-threads" && (v = value())) {
      flags.intra_op_threads = std::atoi(v);
    } else if (arg == "--tolerance" && (v = value())) {
      flags.tolerance = std::atof(v);
    } else if (arg.rfind("--", 0) == 0) {
      return Usage("unknown or incomplete option " + arg);
    } else {
      flags.exports.push_back(arg);
    }
  }
  if (flags.exports.empty()) return Usage("name at least one export (model.pt)");
  if (flags.max_batch_size < 1) return Usage("--max-batch-size must be >= 1");
  if (!flags.inputs.empty() && !std::ifstream(flags.inputs)) {
    return Usage("cannot read --inputs " + flags.inputs);
  }
  // The server's thread settings (server/app/server.cc): one LibTorch thread
  // per core for the process and for the thread that runs the batches.
  if (flags.intra_op_threads == 0) {
    flags.intra_op_threads =
        std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }
  TorchModelRunner::SetIntraOpThreads(flags.intra_op_threads);

  absl::Status cuda = TorchModelRunner::CheckDevice("cuda");
  std::cout << "gcnserve_device_check: LibTorch " << TorchModelRunner::TorchVersion()
            << ", " << flags.intra_op_threads << " intra-op thread(s), batches 1.."
            << flags.max_batch_size << ", tolerance " << flags.tolerance << "\n";
  if (!cuda.ok()) {
    std::cout << "CUDA SKIPPED: " << cuda.message()
              << "; only the CPU half runs\n";
  }
  int failed = 0;
  for (const std::string& path : flags.exports) {
    failed += !CheckExport(path, flags, cuda.ok());
  }
  std::cout << (failed ? absl::StrCat(failed, " export(s) FAILED")
                       : std::string("every export loaded and agreed"))
            << (cuda.ok() ? " on cpu and cuda" : " on cpu (CUDA skipped)") << "\n";
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace gcnserve

int main(int argc, char** argv) { return gcnserve::Main(argc, argv); }
