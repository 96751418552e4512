#include "client/evaluator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/running_server.h"

namespace gcnserve {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// DIR/<class>/<sample>.png from the samples' names (NNNNN_<class>_...).
fs::path MakeEvalFolder(const std::string& name) {
  fs::path dir = fs::path(testing::TempDir()) / name;
  fs::remove_all(dir);
  for (const fs::path& sample : RunningServer::Samples()) {
    std::string stem = sample.stem().string();
    std::string label = stem.substr(6, stem.find('_', 6) - 6);
    fs::create_directories(dir / label);
    fs::copy_file(sample, dir / label / sample.filename());
  }
  return dir;
}

TEST(FindImagesTest, ReadsClassFoldersAndRefusesOthers) {
  fs::path dir = MakeEvalFolder("eval_find");
  auto images = Evaluator::FindImages(dir.string());
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(images->size(), RunningServer::Samples().size());
  for (const LabeledImage& image : *images) {
    std::string stem = fs::path(image.path).stem().string();
    EXPECT_EQ(std::to_string(image.label),
              stem.substr(6, stem.find('_', 6) - 6));
  }
  fs::create_directories(dir / "shoes");
  EXPECT_THAT(Evaluator::FindImages(dir.string()).status().message(),
              HasSubstr("class indices"));
  fs::path empty = fs::path(testing::TempDir()) / "eval_empty";
  fs::create_directories(empty / "0");
  EXPECT_THAT(Evaluator::FindImages(empty.string()).status().message(),
              HasSubstr("holds no image"));
  EXPECT_FALSE(Evaluator::FindImages("/nonexistent/eval").ok());
}

TEST(EvaluatorTest, CountsEveryImageIntoTheConfusionMatrix) {
  auto server = RunningServer::Start();
  ASSERT_NE(server, nullptr);
  fs::path dir = MakeEvalFolder("eval_run");
  // One image that does not decode: answered INVALID_ARGUMENT, counted.
  std::ofstream(dir / "3" / "broken.png") << "not a png";
  auto images = Evaluator::FindImages(dir.string());
  ASSERT_TRUE(images.ok());
  const int64_t total = static_cast<int64_t>(images->size());

  std::ostringstream progress_out;
  Progress progress("eval", total, progress_out, true);
  EvalOptions options;
  options.concurrency = 3;
  EvalResult result =
      Evaluator(&server->client(), options).Run(*images, &progress);
  progress.Finish();

  EXPECT_EQ(result.images, total);
  EXPECT_EQ(result.ok, total - 1);
  EXPECT_EQ(result.errors.at("INVALID_ARGUMENT"), 1);
  ASSERT_EQ(result.failures.size(), 1u);
  EXPECT_THAT(result.failures[0], HasSubstr("broken.png: INVALID_ARGUMENT"));
  ASSERT_EQ(result.labels.size(), 10u);  // from ListModels
  EXPECT_EQ(result.labels[9], "Ankle boot");
  ASSERT_EQ(result.confusion.size(), 10u);
  int64_t counted = 0, diagonal = 0;
  for (size_t i = 0; i < result.confusion.size(); ++i) {
    for (int64_t n : result.confusion[i]) counted += n;
    diagonal += result.confusion[i][i];
  }
  EXPECT_EQ(counted, result.ok);
  EXPECT_EQ(diagonal, result.correct);
  EXPECT_THAT(progress_out.str(), HasSubstr(std::to_string(total) + "/" +
                                            std::to_string(total) + " 100%"));
}

}  // namespace
}  // namespace gcnserve
