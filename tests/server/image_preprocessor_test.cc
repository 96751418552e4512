#include "server/image_preprocessor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <random>
#include <string>
#include <vector>

namespace gcnserve {
namespace {

using ::testing::HasSubstr;

InputSpec GraySpec() {
  InputSpec spec;
  spec.height = 32;
  spec.width = 32;
  spec.channels = 1;
  spec.color = "gray";
  spec.mean = {0.5f};
  spec.std = {0.25f};
  return spec;
}

std::string Encode(const cv::Mat& image, const std::string& ext,
                   std::vector<int> params = {}) {
  std::vector<uchar> bytes;
  EXPECT_TRUE(cv::imencode(ext, image, bytes, params)) << ext;
  return std::string(bytes.begin(), bytes.end());
}

// A 37x23 colour image: not square, so a width/height mix-up shows.
cv::Mat Colour() {
  cv::Mat image(23, 37, CV_8UC3);
  cv::randu(image, 0, 255);
  return image;
}

struct FormatCase {
  const char* ext;
  const char* format;
};

class FormatTest : public ::testing::TestWithParam<FormatCase> {};

TEST_P(FormatTest, HeaderGivesSizeAndImageDecodes) {
  cv::Mat source = Colour();
  if (std::string(GetParam().ext) == ".pgm") {
    cv::cvtColor(source, source, cv::COLOR_BGR2GRAY);  // PGM holds gray only
  }
  std::string bytes = Encode(source, GetParam().ext);
  absl::StatusOr<ImageHeader> header = ImagePreprocessor::ReadHeader(bytes);
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->format, GetParam().format);
  EXPECT_EQ(header->width, 37);
  EXPECT_EQ(header->height, 23);

  ImagePreprocessor preprocessor(GraySpec(), 1'000'000);
  absl::StatusOr<PreprocessedImage> image = preprocessor.Process(bytes);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->original_width, 37);
  EXPECT_EQ(image->original_height, 23);
  EXPECT_EQ(image->chw.size(), 32u * 32u);
}

INSTANTIATE_TEST_SUITE_P(
    EveryFormat, FormatTest,
    ::testing::Values(FormatCase{".png", "PNG"}, FormatCase{".jpg", "JPEG"},
                      FormatCase{".bmp", "BMP"}, FormatCase{".webp", "WebP"},
                      FormatCase{".tiff", "TIFF"}, FormatCase{".ppm", "PNM"},
                      FormatCase{".pgm", "PNM"}),
    [](const auto& info) { return std::string(info.param.ext + 1); });

TEST(ImagePreprocessorTest, NormalizesWithMeanAndStd) {
  cv::Mat gray(32, 32, CV_8UC1, cv::Scalar(204));
  ImagePreprocessor preprocessor(GraySpec(), 1'000'000);
  auto image = preprocessor.Process(Encode(gray, ".png"));
  ASSERT_TRUE(image.ok()) << image.status();
  for (float v : image->chw) EXPECT_NEAR(v, (204 / 255.0 - 0.5) / 0.25, 1e-6);
}

TEST(ImagePreprocessorTest, ResizesSmallImagesUp) {
  cv::Mat gray(28, 28, CV_8UC1, cv::Scalar(0));
  gray(cv::Rect(0, 0, 14, 28)).setTo(255);  // left half white
  ImagePreprocessor preprocessor(GraySpec(), 1'000'000);
  auto image = preprocessor.Process(Encode(gray, ".png"));
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->original_width, 28);
  EXPECT_NEAR(image->chw[5 * 32 + 0], (1.0 - 0.5) / 0.25, 1e-6);   // left
  EXPECT_NEAR(image->chw[5 * 32 + 31], (0.0 - 0.5) / 0.25, 1e-6);  // right
}

TEST(ImagePreprocessorTest, SixteenBitBecomesEightBit) {
  cv::Mat deep(32, 32, CV_16UC1, cv::Scalar(65535));
  ImagePreprocessor preprocessor(GraySpec(), 1'000'000);
  auto image = preprocessor.Process(Encode(deep, ".png"));
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_NEAR(image->chw[0], (1.0 - 0.5) / 0.25, 1e-6);
}

TEST(ImagePreprocessorTest, AlphaIsDropped) {
  cv::Mat bgra(32, 32, CV_8UC4, cv::Scalar(255, 255, 255, 0));  // transparent
  ImagePreprocessor preprocessor(GraySpec(), 1'000'000);
  auto image = preprocessor.Process(Encode(bgra, ".png"));
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_NEAR(image->chw[0], (1.0 - 0.5) / 0.25, 1e-5);
}

TEST(ImagePreprocessorTest, GrayImageFeedsAnRgbModel) {
  InputSpec rgb = GraySpec();
  rgb.channels = 3;
  rgb.color = "rgb";
  rgb.mean = {0, 0, 0};
  rgb.std = {1, 1, 1};
  cv::Mat gray(32, 32, CV_8UC1, cv::Scalar(51));
  ImagePreprocessor preprocessor(rgb, 1'000'000);
  auto image = preprocessor.Process(Encode(gray, ".png"));
  ASSERT_TRUE(image.ok()) << image.status();
  ASSERT_EQ(image->chw.size(), 3u * 32 * 32);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(image->chw[c * 1024], 0.2, 1e-6);
}

TEST(ImagePreprocessorTest, ColourChannelsAreRgbOrder) {
  InputSpec rgb = GraySpec();
  rgb.channels = 3;
  rgb.color = "rgb";
  rgb.mean = {0, 0, 0};
  rgb.std = {1, 1, 1};
  cv::Mat bgr(32, 32, CV_8UC3, cv::Scalar(255, 0, 0));  // pure blue
  ImagePreprocessor preprocessor(rgb, 1'000'000);
  auto image = preprocessor.Process(Encode(bgr, ".png"));
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_NEAR(image->chw[0], 0.0, 1e-6);         // red plane
  EXPECT_NEAR(image->chw[2 * 1024], 1.0, 1e-6);  // blue plane
}

TEST(ImagePreprocessorTest, EmptyImageIsRefused) {
  ImagePreprocessor preprocessor(GraySpec(), 1'000'000);
  auto image = preprocessor.Process("");
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(image.status().message()), HasSubstr("empty"));
}

TEST(ImagePreprocessorTest, UnknownFormatIsRefused) {
  ImagePreprocessor preprocessor(GraySpec(), 1'000'000);
  auto image = preprocessor.Process("this is not an image at all");
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(image.status().message()),
              HasSubstr("unsupported image format"));
}

TEST(ImagePreprocessorTest, TruncatedPngIsRefused) {
  std::string bytes = Encode(Colour(), ".png");
  ImagePreprocessor preprocessor(GraySpec(), 1'000'000);
  auto image = preprocessor.Process(bytes.substr(0, bytes.size() / 2));
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ImagePreprocessorTest, CorruptDataIsRefused) {
  std::string bytes = Encode(Colour(), ".png");
  for (size_t i = 40; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
  ImagePreprocessor preprocessor(GraySpec(), 1'000'000);
  auto image = preprocessor.Process(bytes);
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ImagePreprocessorTest, HeaderCutShortIsRefused) {
  std::string bytes = Encode(Colour(), ".jpg");
  ImagePreprocessor preprocessor(GraySpec(), 1'000'000);
  auto image = preprocessor.Process(bytes.substr(0, 10));
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(image.status().message()), HasSubstr("JPEG"));
}

TEST(ImagePreprocessorTest, TooManyPixelsAreRefusedFromTheHeaderAlone) {
  // A PNG whose header claims 40000x40000 pixels and holds nothing else:
  // refused from the header, before any decoding or allocation.
  std::string bytes = Encode(Colour(), ".png").substr(0, 33);
  auto put32 = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<char>(v >> (24 - 8 * i));
  };
  put32(16, 40000);
  put32(20, 40000);
  ImagePreprocessor preprocessor(GraySpec(), 50'000'000);
  auto image = preprocessor.Process(bytes);
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(image.status().message()),
            "image is 40000x40000, more than the 50000000 pixels allowed");
}

TEST(ImagePreprocessorTest, HugeClaimedSidesDoNotOverflow) {
  std::string bytes = Encode(Colour(), ".png").substr(0, 33);
  for (size_t at : {16, 20}) {
    for (int i = 0; i < 4; ++i) bytes[at + i] = '\xff';  // 4294967295
  }
  ImagePreprocessor preprocessor(GraySpec(), 50'000'000);
  auto image = preprocessor.Process(bytes);
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(image.status().message()),
              HasSubstr("image is 4294967295x4294967295, more than"));
}

TEST(ImagePreprocessorTest, MutatedImagesGiveOkOrInvalidArgumentNeverACrash) {
  std::mt19937 random(7);  // fixed: the same mutations every run
  ImagePreprocessor preprocessor(GraySpec(), 1'000'000);
  for (const char* ext : {".png", ".jpg", ".bmp", ".webp", ".tiff", ".ppm"}) {
    const std::string original = Encode(Colour(), ext);
    for (int round = 0; round < 200; ++round) {
      std::string bytes = original;
      int flips = 1 + static_cast<int>(random() % 8);
      for (int f = 0; f < flips; ++f) {
        bytes[random() % bytes.size()] = static_cast<char>(random());
      }
      if (round % 3 == 0) bytes.resize(random() % bytes.size());
      auto image = preprocessor.Process(bytes);
      if (!image.ok()) {
        EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument) << ext;
      } else {
        EXPECT_EQ(image->chw.size(), 32u * 32u) << ext;
      }
    }
  }
}

TEST(ImagePreprocessorTest, PixelLimitAppliesToRealImages) {
  ImagePreprocessor preprocessor(GraySpec(), 37 * 23 - 1);
  auto image = preprocessor.Process(Encode(Colour(), ".bmp"));
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  ImagePreprocessor roomy(GraySpec(), 37 * 23);
  EXPECT_TRUE(roomy.Process(Encode(Colour(), ".bmp")).ok());
}

}  // namespace
}  // namespace gcnserve
