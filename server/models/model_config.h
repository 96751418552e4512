#ifndef GCNSERVE_SERVER_MODELS_MODEL_CONFIG_H_
#define GCNSERVE_SERVER_MODELS_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/batching/batcher.h"

namespace gcnserve {

// How one model is served: the server's defaults, overridden by the model's
// optional <repository>/<model>/config.json, whose keys are the fields below:
//
//   {"max_batch_size": 16, "max_queue_delay_us": 1000, "max_queue_size": 64,
//    "instances": 2, "intra_op_threads": 1, "device": "cuda:0",
//    "optimize": true,
//    "version_policy": {"latest": 2},       // or {"versions": [1, 3]}
//    "default": true}
struct ModelConfig {
  // batching.max_batch_size 0 (the default): the loader chooses it from the
  // model's own warm-up timings on the CPU (the largest batch worth
  // forming, at most kLargestChosenBatch; TorchModelRunner::
  // WarmUpChoosingBatchSize), and 16 on CUDA.
  static constexpr int kLargestChosenBatch = 64;
  static constexpr int kCudaBatch = 16;
  Batcher::Options batching;
  // Copies of the model, each with a batch thread; 0: one per core on CPU,
  // one on CUDA (see Instances).
  int instances = 0;
  int intra_op_threads = 0;   // LibTorch threads per instance; 0: cores/instances
  std::string device = "cpu";
  // Optimize the TorchScript module for inference at load
  // (TorchModelRunner::Options::optimize); false serves it as saved.
  bool optimize = true;
  int latest = 1;                // serve the newest `latest` versions...
  std::vector<int64_t> versions; // ...or, when not empty, exactly these
  // The default model when --default-model names none (the first such model
  // by name when several say so); see docs/design.md, "Lifecycle".
  bool is_default = false;

  // Reads `json` (the text of `path`, named in errors) over `defaults`.
  // INVALID_ARGUMENT names the file and the key for an unknown key or a bad
  // value.
  static absl::StatusOr<ModelConfig> Parse(const std::string& json,
                                           const std::string& path,
                                           const ModelConfig& defaults);

  // The versions on disk (any order) that the policy may serve, newest
  // first: all of them for {"latest": N} (the N newest that load are
  // served), the listed ones for {"versions": [..]}.
  std::vector<int64_t> Candidates(std::vector<int64_t> on_disk) const;
  // The instances served on `cores` cores (UsableCores): `instances`, or
  // when 0, one per core on CPU and one on CUDA. On CPU one single-threaded
  // instance per core serves more than one instance whose threads span the
  // cores: no thread waits at a barrier for another, and under load the
  // instances run batches side by side (bench/README.md, "Execution
  // instances").
  int Instances(int cores) const;
  // LibTorch threads per instance: `intra_op_threads`, or when 0 the cores
  // divided among the instances (at least 1).
  int ThreadsPerInstance(int cores) const;
  // With `intra_op_threads` 0 on the CPU the threads may follow the load
  // instead, where the loader timed a lone batch faster on every core
  // (torch_loader.h): each batch runs on the cores divided among the
  // instances busy at that moment (running a batch or about to run the
  // work queued), so a lone request uses every
  // core and a busy model one core per instance
  // (ServedModel::Options::shared_cores).
  bool ThreadsFollowLoad() const { return intra_op_threads == 0 && device == "cpu"; }

  // How many of the candidates are served: N for {"latest": N}, all for
  // {"versions": [..]}.
  int Wanted(int candidates) const;

  // The settings a loaded version was built with that differ in `other`,
  // each as "key old -> new" (config.json's key names): batching, instances,
  // threads, device and optimize. Empty when a version loaded with this
  // config serves as one loaded with `other` would (the version policy and
  // "default" act on the model, not on a loaded version).
  std::vector<std::string> LoadChanges(const ModelConfig& other) const;
};

// True for "cpu", "cuda" and "cuda:N".
bool IsDeviceName(const std::string& device);

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_MODELS_MODEL_CONFIG_H_
