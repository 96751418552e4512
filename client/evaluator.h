#ifndef GCNSERVE_CLIENT_EVALUATOR_H_
#define GCNSERVE_CLIENT_EVALUATOR_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/classifier_client.h"
#include "client/progress.h"

namespace gcnserve {

// An image whose class is known.
struct LabeledImage {
  std::string path;
  int label = 0;  // class index
};

struct EvalOptions {
  std::string model;  // empty: the server's default
  int64_t version = 0;
  int concurrency = 4;  // requests in flight
};

struct EvalResult {
  int64_t images = 0;                     // asked
  int64_t ok = 0;                         // answered
  int64_t correct = 0;                    // answered with the right class first
  std::map<std::string, int64_t> errors;  // status code name -> count
  // The first few failures, "path: CODE: message".
  std::vector<std::string> failures;
  // Class names by index, from ListModels (empty when it failed).
  std::vector<std::string> labels;
  // confusion[true class][predicted class], over the answered images.
  std::vector<std::vector<int64_t>> confusion;

  double accuracy() const {
    return ok > 0 ? static_cast<double>(correct) / ok : 0;
  }
};

// Measures a served model's accuracy on a folder of labelled images, with a
// few requests in flight. Not thread-safe: one Run() at a time.
class Evaluator {
 public:
  Evaluator(ClassifierClient* client, const EvalOptions& options);

  // The images of `dir`, which holds one subfolder per class named by its
  // index (0, 1, ...), in order. INVALID_ARGUMENT for a folder that is not
  // there, holds no image, or has a subfolder that is not an index.
  static absl::StatusOr<std::vector<LabeledImage>> FindImages(
      const std::string& dir);

  // Classifies every image (graph NONE, top 1); `progress` may be null.
  EvalResult Run(const std::vector<LabeledImage>& images, Progress* progress);

 private:
  ClassifierClient* const client_;
  const EvalOptions options_;
};

}  // namespace gcnserve

#endif  // GCNSERVE_CLIENT_EVALUATOR_H_
