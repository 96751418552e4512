#ifndef GCNSERVE_SERVER_MODELS_TORCH_LOADER_H_
#define GCNSERVE_SERVER_MODELS_TORCH_LOADER_H_

#include <string>

#include "absl/status/statusor.h"
#include "server/models/model_config.h"
#include "server/models/model_manager.h"

namespace gcnserve {

// The server's ModelLoader: loads the TorchScript export at `path` once
// (and optimizes it for inference, as `config` says), warms it up, and gives
// every instance a runner over that one module, so that start-up and memory
// do not grow with the instance count. On `cores` usable cores, with the
// config's settings where it has them; where it leaves them to the server:
// - each instance on its share of the cores; where the threads are left
//   open (ModelConfig::ThreadsFollowLoad) and batch 1 was timed 1.05x
//   faster on every core, after the pause lone requests leave, than on the
//   share, they follow the load: a lone batch on every core, each of
//   several running batches on its share;
// - max_batch_size 0 on the CPU: the largest batch worth forming, measured
//   while warming up (TorchModelRunner::WarmUpChoosingBatchSize, batches
//   timed on one instance's share of the cores, as under load), and only
//   the sizes up to it warmed; on CUDA 16.
// LoadedModel::execution says what was chosen and why (docs/design.md,
// "CPU threads and memory"; bench/README.md has the measurements).
absl::StatusOr<LoadedModel> LoadTorchModel(const std::string& path,
                                           const ModelConfig& config, int cores);

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_MODELS_TORCH_LOADER_H_
