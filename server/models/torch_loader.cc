#include "server/models/torch_loader.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/base/log.h"
#include "server/base/status_macros.h"
#include "server/models/file_digest.h"
#include "server/runner/torch_model_runner.h"

namespace gcnserve {

absl::StatusOr<LoadedModel> LoadTorchModel(const std::string& path,
                                           const ModelConfig& config, int cores) {
  cores = std::max(1, cores);
  const int instances = config.Instances(cores);
  const int share = config.ThreadsPerInstance(cores);  // each, all running
  TorchModelRunner::Options runner_options;
  runner_options.device = config.device;
  runner_options.intra_op_threads = share;
  runner_options.optimize = config.optimize;
  GCN_ASSIGN_OR_RETURN(std::string digest, ShortFileDigest(path));
  GCN_ASSIGN_OR_RETURN(std::unique_ptr<TorchModelRunner> runner,
                       TorchModelRunner::Load(path, runner_options));
  if (!runner->not_optimized_why().empty()) {
    Log(path, ": served as saved, not optimized for inference: ",
        runner->not_optimized_why());
  }

  LoadedModel loaded;
  loaded.metadata = runner->metadata();
  loaded.metadata.digest = digest;
  loaded.optimized = runner->optimized();
  const bool cpu = config.device == "cpu";
  const bool follow_load = config.ThreadsFollowLoad();
  if (config.batching.max_batch_size == 0 && cpu) {
    // Timed on one instance's share of the cores, as batches run under load.
    GCN_ASSIGN_OR_RETURN(
        TorchModelRunner::Choice choice,
        runner->WarmUpChoosingBatchSize(ModelConfig::kLargestChosenBatch));
    loaded.max_batch_size = choice.chosen;
    std::string rates;
    for (size_t i = 0; i < choice.sizes.size(); ++i) {
      absl::StrAppend(&rates, i ? ", " : "", choice.sizes[i], ": ",
                      static_cast<int64_t>(choice.images_per_s[i] + 0.5));
    }
    absl::StrAppend(&loaded.execution, "max batch ", choice.chosen,
                    " chosen from warm-up (images/s at batch ", rates,
                    " on ", share, " thread(s); a size counts when it gives ",
                    TorchModelRunner::kWorthIt, "x the one before)");
  } else {
    const int max_batch = config.batching.max_batch_size > 0
                              ? config.batching.max_batch_size
                              : ModelConfig::kCudaBatch;
    if (config.batching.max_batch_size == 0) loaded.max_batch_size = max_batch;
    GCN_RETURN_IF_ERROR(runner->WarmUp(max_batch));
    absl::StrAppend(&loaded.execution, "max batch ", max_batch,
                    config.batching.max_batch_size > 0 ? " as configured"
                                                       : " (CUDA's default)");
  }
  if (follow_load && cores > share) {
    // A lone request's pass runs on every core: warm that thread count too.
    runner->SetThreads(cores);
    GCN_RETURN_IF_ERROR(runner->WarmUp(1));
    runner->SetThreads(0);
    loaded.shared_cores = cores;
  }
  absl::StrAppend(
      &loaded.execution, "; ", instances, " instance(s) over one copy of the weights; ",
      follow_load && cores > share
          ? absl::StrCat("threads follow the load: a lone batch on ", cores,
                         ", each of ", instances, " running batches on ",
                         share)
          : absl::StrCat(share, " thread(s) each",
                         config.intra_op_threads > 0 ? " as configured" : ""));
  const TorchModelRunner& first = *runner;
  loaded.runners.push_back(std::move(runner));
  for (int i = 1; i < instances; ++i) loaded.runners.push_back(first.Share());
  return loaded;
}

}  // namespace gcnserve
