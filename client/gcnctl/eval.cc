// gcnctl eval DIR: a model's accuracy on DIR/<class index>/*.png, with a
// confusion matrix.
#include <iomanip>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "client/evaluator.h"
#include "client/gcnctl/command.h"
#include "client/gcnctl/flags.h"
#include "client/progress.h"

namespace gcnserve::gcnctl {
namespace {

void PrintEval(const EvalResult& result) {
  auto label = [&](size_t i) {
    return i < result.labels.size() ? result.labels[i] : std::to_string(i);
  };
  std::cout << std::fixed << std::setprecision(2) << "accuracy "
            << result.accuracy() * 100 << "% (" << result.correct << " of "
            << result.ok << " answered; " << result.images << " images, "
            << result.images - result.ok << " failed)\n\n";
  std::cout << std::left << std::setw(6) << "CLASS" << std::setw(22) << "LABEL"
            << std::right << std::setw(8) << "IMAGES" << std::setw(9)
            << "CORRECT" << std::setw(10) << "ACCURACY"
            << "\n";
  for (size_t i = 0; i < result.confusion.size(); ++i) {
    int64_t images = 0;
    for (int64_t n : result.confusion[i]) images += n;
    if (images == 0) continue;
    int64_t correct = result.confusion[i][i];
    std::cout << std::left << std::setw(6) << i << std::setw(22) << label(i)
              << std::right << std::setw(8) << images << std::setw(9) << correct
              << std::setw(9) << 100.0 * correct / images << "%\n";
  }
  if (result.confusion.size() <= 20) {
    std::cout << "\nconfusion (rows: true class, columns: predicted)\n     ";
    for (size_t j = 0; j < result.confusion.size(); ++j) {
      std::cout << std::setw(6) << j;
    }
    std::cout << "\n";
    for (size_t i = 0; i < result.confusion.size(); ++i) {
      std::cout << std::setw(5) << i;
      for (int64_t n : result.confusion[i]) std::cout << std::setw(6) << n;
      std::cout << "\n";
    }
  }
  for (const auto& [code, count] : result.errors) {
    std::cout << "errors: " << code << " " << count << "\n";
  }
  for (const std::string& failure : result.failures) {
    std::cout << "  " << failure << "\n";
  }
}

}  // namespace

int Eval(ClassifierClient& client, const Invocation& invocation) {
  if (invocation.operands.size() != 1) {
    std::cerr << "gcnctl eval: name one folder (DIR/<class index>/*.png)\n";
    return 2;
  }
  EvalOptions options;
  options.model = absl::GetFlag(FLAGS_model);
  options.version = absl::GetFlag(FLAGS_version);
  // --concurrency is bench's level list too: a number here.
  if (invocation.Given("concurrency") &&
      (!absl::SimpleAtoi(absl::GetFlag(FLAGS_concurrency),
                         &options.concurrency) ||
       options.concurrency < 1 || options.concurrency > 1024)) {
    std::cerr << "gcnctl eval: --concurrency takes a whole number from 1 to "
                 "1024\n";
    return 2;
  }
  auto images = Evaluator::FindImages(invocation.operands[0]);
  if (!images.ok()) {
    std::cerr << "gcnctl eval: " << images.status().message() << "\n";
    return 2;
  }
  Progress progress("eval", static_cast<int64_t>(images->size()), std::cerr,
                    ShowProgress());
  Evaluator evaluator(&client, options);
  EvalResult result = evaluator.Run(*images, &progress);
  progress.Finish();
  if (absl::GetFlag(FLAGS_json)) {
    nlohmann::json classes = nlohmann::json::array();
    for (size_t i = 0; i < result.confusion.size(); ++i) {
      int64_t total = 0;
      for (int64_t n : result.confusion[i]) total += n;
      classes.push_back(
          {{"index", i},
           {"label", i < result.labels.size() ? result.labels[i] : ""},
           {"images", total},
           {"correct", result.confusion[i][i]}});
    }
    nlohmann::json out = {
        {"images", result.images},   {"ok", result.ok},
        {"correct", result.correct}, {"accuracy", result.accuracy()},
        {"errors", result.errors},   {"failures", result.failures},
        {"classes", classes},        {"confusion", result.confusion}};
    std::cout << out.dump(2) << "\n";
  } else {
    PrintEval(result);
  }
  return result.ok == result.images ? 0 : 1;
}

}  // namespace gcnserve::gcnctl
