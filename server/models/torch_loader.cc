#include "server/models/torch_loader.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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
  const bool follow_load = config.ThreadsFollowLoad() && cores > share;
  double batch1_share = 0;  // seconds of a batch-1 pass on `share` threads
  if (config.batching.max_batch_size == 0 && cpu) {
    // Timed on one instance's share of the cores, as batches run under load.
    GCN_ASSIGN_OR_RETURN(
        TorchModelRunner::Choice choice,
        runner->WarmUpChoosingBatchSize(ModelConfig::kLargestChosenBatch));
    loaded.max_batch_size = choice.chosen;
    batch1_share = 1 / choice.images_per_s.front();
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
  std::string threads = absl::StrCat(share, " thread(s) each",
                                     config.intra_op_threads > 0 ? " as configured" : "");
  if (follow_load) {
    // A lone request's batch runs on every core where that is faster, timed
    // here with the pause lone requests leave between passes: a light
    // model's pass can take longer on several threads than on one (the
    // sleeping threads are woken at every operator), a heavy one's much less.
    // On one thread the pause changes nothing (no other thread to wake).
    if (batch1_share == 0) {
      GCN_ASSIGN_OR_RETURN(batch1_share, runner->TimeBatch(1));
    }
    runner->SetThreads(cores);
    GCN_ASSIGN_OR_RETURN(double batch1_all,
                         runner->TimeBatch(1, TorchModelRunner::kLoneGap));
    runner->SetThreads(0);
    const std::string timings = absl::StrFormat(
        "a lone batch 1 in %.2f ms on %d thread(s), %.2f ms on %d", 1e3 * batch1_all,
        cores, 1e3 * batch1_share, share);
    if (TorchModelRunner::kWorthIt * batch1_all < batch1_share) {
      loaded.shared_cores = cores;
      threads = absl::StrCat("threads follow the load: a lone batch on ", cores,
                             ", each of ", instances, " running batches on ",
                             share, " (", timings, ")");
    } else {
      threads = absl::StrCat(share, " thread(s) each, a lone batch too (", timings,
                             ": not ", TorchModelRunner::kWorthIt,
                             "x faster on more)");
    }
  }
  absl::StrAppend(&loaded.execution, "; ", instances,
                  " instance(s) over one copy of the weights; ", threads);
  const TorchModelRunner& first = *runner;
  loaded.runners.push_back(std::move(runner));
  for (int i = 1; i < instances; ++i) loaded.runners.push_back(first.Share());
  return loaded;
}

}  // namespace gcnserve
