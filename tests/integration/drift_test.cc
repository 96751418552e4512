// The drift score end to end: the tiny test model, exported with its
// reference on Fashion-MNIST's validation split (make_test_models.sh), is
// sent test images, then the same kind of images inverted and as noise, and
// /metrics is read as a scraper reads it.
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <filesystem>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "tests/support/http_fetch.h"
#include "tests/support/running_server.h"

namespace gcnserve {
namespace {

namespace fs = std::filesystem;

constexpr int kWindow = 300;

std::vector<std::string> DriftSamples() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(GCNSERVE_TEST_DRIFT_SAMPLES)) {
    if (entry.path().extension() == ".png") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> images;
  for (const fs::path& path : files) images.push_back(RunningServer::Read(path));
  return images;
}

std::string Png(const cv::Mat& image) {
  std::vector<uchar> bytes;
  cv::imencode(".png", image, bytes);
  return std::string(bytes.begin(), bytes.end());
}

class DriftTest : public ::testing::Test {
 protected:
  void SetUp() override {
    running_ = RunningServer::Start([](ServerOptions& options, ClientOptions&) {
      options.metrics_address = "127.0.0.1:0";
      options.drift_window_requests = kWindow;
      options.drift_min_requests = 200;
    });
    ASSERT_NE(running_, nullptr);
  }

  void Send(const std::vector<std::string>& images) {
    for (const std::string& image : images) {
      v1::ClassifyRequest request;
      request.set_image(image);
      v1::ClassifyResponse response;
      ASSERT_TRUE(running_->client().Classify(request, &response).ok());
    }
  }

  // gcnserve_drift_score of model3 version 1 from /metrics; -1 when absent.
  double Score() {
    HttpAnswer answer = Fetch(
        "GET", "http://127.0.0.1:" +
                   std::to_string(running_->server().metrics_port()) +
                   "/metrics");
    EXPECT_EQ(answer.status, 200);
    std::smatch match;
    static const std::regex line(
        R"(gcnserve_drift_score\{model="model3",version="1"\} (\S+))");
    if (!std::regex_search(answer.body, match, line)) return -1;
    return std::strtod(match[1].str().c_str(), nullptr);
  }

  std::unique_ptr<RunningServer> running_;
};

TEST_F(DriftTest, InDistributionStaysLowAndShiftedImagesRaiseTheScore) {
  std::vector<std::string> images = DriftSamples();
  ASSERT_EQ(images.size(), static_cast<size_t>(kWindow));

  // Not published until the window holds 200 answers.
  Send({images.begin(), images.begin() + 199});
  EXPECT_EQ(Score(), -1);
  Send({images.begin() + 199, images.end()});
  const double in_distribution = Score();
  EXPECT_GE(in_distribution, 0);
  EXPECT_LT(in_distribution, 0.1);

  // The window's 300 answers replaced by shifted ones: half the images
  // inverted (a white background), half uniform noise.
  std::vector<std::string> shifted;
  std::mt19937 rng(7);
  for (int i = 0; i < kWindow; ++i) {
    if (i % 2 == 0) {
      cv::Mat image = cv::imdecode(
          cv::Mat(1, static_cast<int>(images[i].size()), CV_8U, images[i].data()),
          cv::IMREAD_GRAYSCALE);
      shifted.push_back(Png(255 - image));
    } else {
      cv::Mat noise(28, 28, CV_8U);
      for (int p = 0; p < 28 * 28; ++p) noise.data[p] = static_cast<uchar>(rng());
      shifted.push_back(Png(noise));
    }
  }
  Send(shifted);
  const double after = Score();
  EXPECT_GT(after, 0.25) << "in distribution it was " << in_distribution;
  std::cout << "drift score: " << in_distribution << " in distribution, "
            << after << " shifted\n";
}

}  // namespace
}  // namespace gcnserve
