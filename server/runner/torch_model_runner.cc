#include "server/runner/torch_model_runner.h"

#include <dlfcn.h>

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/script.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/base/status_macros.h"

namespace gcnserve {

// The loaded module, shared by the runners of its instances.
struct TorchModelRunner::Impl {
  torch::jit::Module module;
  torch::Device device{torch::kCPU};
};

struct TorchModelRunner::Staging {
  torch::Tensor pinned;  // grown on demand
};

namespace {

constexpr char kMetadataFile[] = "gcnserve.json";

// The line of an exception's text that says what went wrong: TorchScript
// puts it last, after the script's traceback; c10 puts it first.
std::string ErrorLine(const std::string& what) {
  size_t end = what.find_last_not_of("\n ");
  if (what.rfind("The following operation failed in the TorchScript", 0) == 0 &&
      end != std::string::npos) {
    size_t start = what.rfind('\n', end);
    return what.substr(start == std::string::npos ? 0 : start + 1,
                       end - (start == std::string::npos ? 0 : start + 1) + 1);
  }
  return what.substr(0, what.find('\n'));
}

std::string ShapeString(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) {
    absl::StrAppend(&s, i ? ", " : "", t.size(i));
  }
  return s + "]";
}

// Checks that `t` has `shape`, naming the output when it does not.
absl::Status CheckShape(const char* name, const torch::Tensor& t,
                        std::vector<int64_t> shape) {
  if (t.sizes() == c10::IntArrayRef(shape)) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(
      "model output '", name, "' has shape ", ShapeString(t), ", expected ",
      ShapeString(torch::empty(shape, torch::kMeta))));
}

template <typename T>
std::vector<T> ToVector(const torch::Tensor& t) {
  torch::Tensor cpu = t.to(torch::kCPU).contiguous();
  const T* data = cpu.data_ptr<T>();
  return std::vector<T>(data, data + cpu.numel());
}

absl::StatusOr<torch::Device> ParseDevice(const std::string& device) {
  try {
    return torch::Device(device);
  } catch (const c10::Error&) {
    return absl::InvalidArgumentError(absl::StrCat(
        "device '", device, "' is not one of cpu, cuda or cuda:N"));
  }
}

}  // namespace

TorchModelRunner::TorchModelRunner(std::shared_ptr<Impl> impl,
                                   ModelMetadata metadata, Options options,
                                   std::string not_optimized_why)
    : impl_(std::move(impl)),
      staging_(std::make_unique<Staging>()),
      metadata_(std::move(metadata)),
      options_(std::move(options)),
      not_optimized_why_(std::move(not_optimized_why)) {}

std::unique_ptr<TorchModelRunner> TorchModelRunner::Share() const {
  return std::unique_ptr<TorchModelRunner>(
      new TorchModelRunner(impl_, metadata_, options_, not_optimized_why_));
}

TorchModelRunner::~TorchModelRunner() = default;

absl::Status TorchModelRunner::CheckDevice(const std::string& device) {
  GCN_ASSIGN_OR_RETURN(torch::Device parsed, ParseDevice(device));
  if (parsed.is_cpu()) return absl::OkStatus();
  if (!parsed.is_cuda()) {
    return absl::InvalidArgumentError(
        absl::StrCat("device '", device, "' is not one of cpu, cuda or cuda:N"));
  }
  if (!torch::cuda::is_available()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "device '", device,
        "' asked for, but this LibTorch has no CUDA or sees no GPU; use cpu"));
  }
  if (parsed.has_index() &&
      parsed.index() >= static_cast<int>(torch::cuda::device_count())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "device '", device, "' asked for, but only ",
        torch::cuda::device_count(), " GPU(s) are visible"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TorchModelRunner>> TorchModelRunner::Load(
    const std::string& path, const Options& options) {
  GCN_RETURN_IF_ERROR(CheckDevice(options.device));
  auto impl = std::make_unique<Impl>();
  impl->device = torch::Device(options.device);
  torch::jit::ExtraFilesMap extra_files{{kMetadataFile, ""}};
  try {
    impl->module = torch::jit::load(path, impl->device, extra_files);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": not a loadable TorchScript file: ", ErrorLine(e.what())));
  }
  if (extra_files[kMetadataFile].empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": has no ", kMetadataFile, " metadata"));
  }
  absl::StatusOr<ModelMetadata> metadata =
      ModelMetadata::Parse(extra_files[kMetadataFile]);
  if (!metadata.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", metadata.status().message()));
  }
  impl->module.eval();
  std::string not_optimized_why;
  if (options.optimize) {
    // Freezes (parameters become constants of the graph) and folds and
    // fuses; the metadata was read from the file above, so nothing the
    // server needs lives in the module's attributes.
    try {
      impl->module = torch::jit::optimize_for_inference(impl->module);
    } catch (const std::exception& e) {
      not_optimized_why = ErrorLine(e.what());
    }
  }
  return std::unique_ptr<TorchModelRunner>(
      new TorchModelRunner(std::move(impl), *std::move(metadata), options,
                           std::move(not_optimized_why)));
}

absl::Status TorchModelRunner::WarmUp(int max_batch_size) {
  const InputSpec& in = metadata_.input;
  const size_t image = static_cast<size_t>(in.channels) * in.height * in.width;
  std::vector<float> zeros(image * max_batch_size, 0.0f);
  const bool cuda = impl_->device.is_cuda();
  for (int batch : WarmUpBatchSizes(max_batch_size, cuda)) {
    const int passes = batch == 1 || cuda ? 2 : 1;
    for (int pass = 0; pass < passes; ++pass) {
      absl::StatusOr<ModelOutput> out = Run(zeros.data(), batch);
      if (!out.ok()) {
        return absl::InternalError(absl::StrCat("warm-up with batch size ",
                                                batch, " failed: ",
                                                out.status().message()));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<double> TorchModelRunner::TimeBatch(int batch,
                                                   std::chrono::microseconds gap) {
  const InputSpec& in = metadata_.input;
  const size_t image = static_cast<size_t>(in.channels) * in.height * in.width;
  std::vector<float> zeros(image * std::max(1, batch), 0.0f);
  std::vector<double> passes;
  double timed = 0;
  const double min_timed = std::chrono::duration<double>(kMinTimed).count();
  for (int pass = 0; pass < 2 || (timed < min_timed && pass < kMaxTimedPasses);
       ++pass) {
    if (gap.count() > 0) std::this_thread::sleep_for(gap);
    auto start = std::chrono::steady_clock::now();
    absl::StatusOr<ModelOutput> out = Run(zeros.data(), batch);
    if (!out.ok()) {
      return absl::InternalError(absl::StrCat("warm-up with batch size ",
                                              batch, " failed: ",
                                              out.status().message()));
    }
    passes.push_back(std::chrono::duration<double>(
                         std::chrono::steady_clock::now() - start)
                         .count());
    timed += passes.back();
  }
  // A few long passes: the fastest (the first at a new size or thread count
  // sets things up). Many short ones: the median, the pass as it usually
  // goes, threads woken and other processes on the node included.
  std::sort(passes.begin(), passes.end());
  const double seconds = passes.size() >= kMedianFrom ? passes[passes.size() / 2]
                                                      : passes.front();
  return std::max(1e-9, seconds);
}

absl::StatusOr<TorchModelRunner::Choice>
TorchModelRunner::WarmUpChoosingBatchSize(int largest) {
  // The module's first pass profiles it (the profiling executor; the next
  // optimizes it, timed with batch 1's and outrun by the one after).
  {
    const InputSpec& in = metadata_.input;
    std::vector<float> zeros(static_cast<size_t>(in.channels) * in.height * in.width, 0.0f);
    absl::StatusOr<ModelOutput> out = Run(zeros.data(), 1);
    if (!out.ok()) {
      return absl::InternalError(absl::StrCat("warm-up with batch size 1 failed: ",
                                              out.status().message()));
    }
  }
  Choice choice;
  for (int batch = 1; batch <= std::max(1, largest); batch *= 2) {
    GCN_ASSIGN_OR_RETURN(double seconds, TimeBatch(batch));
    choice.sizes.push_back(batch);
    choice.images_per_s.push_back(batch / seconds);
    const size_t n = choice.images_per_s.size();
    if (n >= 2 && choice.images_per_s[n - 1] <
                      kWorthIt * choice.images_per_s[n - 2]) {
      break;
    }
    choice.chosen = batch;
  }
  return choice;
}

std::vector<int> TorchModelRunner::WarmUpBatchSizes(int max_batch_size,
                                                   bool every_size) {
  std::vector<int> sizes;
  for (int batch = 1; batch < max_batch_size; batch = every_size ? batch + 1 : 2 * batch) {
    sizes.push_back(batch);
  }
  if (max_batch_size >= 1) sizes.push_back(max_batch_size);
  return sizes;
}

absl::StatusOr<ModelOutput> TorchModelRunner::Run(const float* input,
                                                  int batch) {
  const InputSpec& in = metadata_.input;
  const int64_t classes = static_cast<int64_t>(metadata_.labels.size());
  const int64_t k = metadata_.num_points;
  const int threads = threads_ > 0 ? threads_ : options_.intra_op_threads;
  if (threads > 0 && at::get_num_threads() != threads) {
    at::set_num_threads(threads);  // this thread's pool
  }
  try {
    c10::InferenceMode guard;
    torch::Tensor x = torch::from_blob(
        const_cast<float*>(input), {batch, in.channels, in.height, in.width},
        torch::kFloat32);
    if (impl_->device.is_cuda()) {
      // Stage in pinned memory so that the copy to the GPU does not block.
      torch::Tensor& pinned = staging_->pinned;
      if (!pinned.defined() || pinned.numel() < x.numel()) {
        pinned = torch::empty(
            {x.numel()}, torch::TensorOptions().dtype(torch::kFloat32).pinned_memory(true));
      }
      torch::Tensor staged = pinned.narrow(0, 0, x.numel()).view(x.sizes());
      staged.copy_(x);
      x = staged.to(impl_->device, /*non_blocking=*/true);
    }
    c10::IValue result = impl_->module.forward({x});
    if (!result.isGenericDict()) {
      return absl::InternalError("model did not return a Dict[str, Tensor]");
    }
    c10::Dict<c10::IValue, c10::IValue> dict = result.toGenericDict();
    auto get = [&](const char* key) -> absl::StatusOr<torch::Tensor> {
      auto it = dict.find(key);
      if (it == dict.end() || !it->value().isTensor()) {
        return absl::InternalError(
            absl::StrCat("model output has no tensor '", key, "'"));
      }
      return it->value().toTensor();
    };

    ModelOutput out;
    out.batch = batch;
    out.classes = static_cast<int>(classes);
    GCN_ASSIGN_OR_RETURN(torch::Tensor logits, get("logits"));
    GCN_RETURN_IF_ERROR(CheckShape("logits", logits, {batch, classes}));
    logits = logits.to(torch::kFloat32);
    if (metadata_.temperature != 1.0) logits = logits / metadata_.temperature;
    out.probabilities = ToVector<float>(torch::softmax(logits, 1));
    if (!metadata_.has_graph()) return out;

    out.points = static_cast<int>(k);
    GCN_ASSIGN_OR_RETURN(torch::Tensor points, get("points"));
    GCN_ASSIGN_OR_RETURN(torch::Tensor scores, get("point_scores"));
    GCN_ASSIGN_OR_RETURN(torch::Tensor levels, get("point_levels"));
    GCN_ASSIGN_OR_RETURN(torch::Tensor adjacency, get("adjacency"));
    GCN_RETURN_IF_ERROR(CheckShape("points", points, {batch, k, 2}));
    GCN_RETURN_IF_ERROR(CheckShape("point_scores", scores, {batch, k}));
    GCN_RETURN_IF_ERROR(CheckShape("point_levels", levels, {batch, k}));
    GCN_RETURN_IF_ERROR(CheckShape("adjacency", adjacency, {batch, k, k}));
    // One copy back from the device for the whole batch's graph.
    torch::Tensor graph =
        torch::cat({points.to(torch::kFloat32).reshape({batch, -1}),
                    scores.to(torch::kFloat32).reshape({batch, -1}),
                    levels.to(torch::kFloat32).reshape({batch, -1}),
                    adjacency.to(torch::kFloat32).reshape({batch, -1})},
                   1)
            .to(torch::kCPU);
    auto part = [&](int64_t start, int64_t length) {
      return graph.narrow(1, start, length);
    };
    out.point_xy = ToVector<float>(part(0, 2 * k));
    out.point_scores = ToVector<float>(part(2 * k, k));
    out.point_levels = ToVector<int64_t>(part(3 * k, k).to(torch::kInt64));
    out.adjacency = ToVector<float>(part(4 * k, k * k));
    return out;
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("model '", metadata_.name,
                                            "' failed: ", ErrorLine(e.what())));
  }
}

void TorchModelRunner::SetIntraOpThreads(int threads) {
  if (threads <= 0) return;
  at::set_num_threads(threads);
  // LibTorch sets MKL's threads, not OpenBLAS's; OpenBLAS (Debian's BLAS)
  // keeps a pool of one thread per core, which spins in sched_yield between
  // matrix products and so competes with every instance's own threads.
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(
          dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
      set != nullptr && std::getenv("OPENBLAS_NUM_THREADS") == nullptr) {
    set(threads);
  }
}

int TorchModelRunner::BlasThreads() {
  using GetThreads = int (*)();
  auto get = reinterpret_cast<GetThreads>(
      dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return get != nullptr ? get() : 0;
}

std::string TorchModelRunner::TorchVersion() {
  return absl::StrCat(TORCH_VERSION_MAJOR, ".", TORCH_VERSION_MINOR, ".",
                      TORCH_VERSION_PATCH);
}

}  // namespace gcnserve
