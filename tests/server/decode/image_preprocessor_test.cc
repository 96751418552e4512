#include "server/decode/image_preprocessor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "server/decode/area_shrink.h"
#include "tests/support/cmyk_jpeg.h"
#include "tests/support/png_chunks.h"

namespace gcnserve {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

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

InputSpec GraySpec64() {
  InputSpec spec = GraySpec();
  spec.height = 64;
  spec.width = 64;
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

// Found by tests/fuzz: a RIFF file shorter than its 12-byte header threw
// std::out_of_range, which on the preprocess pool ended the server.
TEST(ImagePreprocessorTest, RiffShorterThanItsHeaderIsRefused) {
  ImagePreprocessor preprocessor(GraySpec(), 1'000'000);
  for (size_t n = 4; n < 12; ++n) {
    auto image = preprocessor.Process(std::string("RIFFBM\0\0WEBP", 12).substr(0, n));
    EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument) << n;
  }
}

// A little-endian TIFF header whose one IFD holds `tags` (tag, LONG value).
std::string TiffWithTags(const std::vector<std::pair<uint16_t, uint32_t>>& tags) {
  std::string b("II*\0\x08\0\0\0", 8);
  auto u16 = [&](uint16_t v) { b.append(reinterpret_cast<const char*>(&v), 2); };
  auto u32 = [&](uint32_t v) { b.append(reinterpret_cast<const char*>(&v), 4); };
  u16(static_cast<uint16_t>(tags.size()));
  for (const auto& [tag, value] : tags) {
    u16(tag);
    u16(4);  // LONG
    u32(1);
    u32(value);
  }
  u32(0);
  return b;
}

// Found by tests/fuzz: OpenCV allocates a whole strip, RowsPerStrip rows,
// even far beyond the image's height (a 224-byte file asked for 2 GB).
TEST(ImagePreprocessorTest, TiffStripsBeyondThePixelLimitAreRefused) {
  ImagePreprocessor preprocessor(GraySpec(), 1'000'000);
  auto image = preprocessor.Process(
      TiffWithTags({{256, 1000}, {257, 16}, {278, 100'000}}));
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(image.status().message()), HasSubstr("strips or tiles"));
  auto header = ImagePreprocessor::ReadHeader(
      TiffWithTags({{256, 1000}, {257, 16}, {278, 0xFFFFFFFF}}));
  ASSERT_TRUE(header.ok()) << header.status();  // one strip: the image
  EXPECT_EQ(header->decode_pixels, 1000 * 16);
  auto twice = ImagePreprocessor::ReadHeader(
      TiffWithTags({{256, 10}, {257, 16}, {256, 70000}}));
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kInvalidArgument);
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


// --- Decode scale, plan and budget ---

ImageHeader Header(const char* format, int64_t width, int64_t height) {
  ImageHeader header;
  header.format = format;
  header.width = width;
  header.height = height;
  return header;
}

struct ScaleCase {
  const char* format;
  int64_t width, height;
  int input;  // square model input
  int64_t decoded_width, decoded_height;
  int denominator;
};

class ChooseDecodeScaleTest : public ::testing::TestWithParam<ScaleCase> {};

TEST_P(ChooseDecodeScaleTest, SmallestDecodeThatCoversTheInput) {
  const ScaleCase c = GetParam();
  DecodeScale scale =
      ChooseDecodeScale(Header(c.format, c.width, c.height), c.input, c.input);
  EXPECT_EQ(scale.width, c.decoded_width);
  EXPECT_EQ(scale.height, c.decoded_height);
  EXPECT_EQ(scale.denominator, c.denominator);
}

INSTANTIATE_TEST_SUITE_P(
    EveryFormatAndSize, ChooseDecodeScaleTest,
    ::testing::Values(
        // JPEG: the largest of 1/8, 1/4, 1/2 leaving both sides >= 64.
        ScaleCase{"JPEG", 1920, 1080, 64, 240, 135, 8},
        ScaleCase{"JPEG", 4032, 3024, 64, 504, 378, 8},
        ScaleCase{"JPEG", 3024, 4032, 224, 378, 504, 8},
        ScaleCase{"JPEG", 513, 513, 64, 65, 65, 8},  // ceil(513 / 8) = 65
        ScaleCase{"JPEG", 503, 600, 64, 126, 150, 4},  // ceil(503 / 8) = 63
        ScaleCase{"JPEG", 505, 505, 64, 64, 64, 8},   // exactly the input
        ScaleCase{"JPEG", 500, 300, 64, 125, 75, 4},
        ScaleCase{"JPEG", 200, 130, 64, 100, 65, 2},
        ScaleCase{"JPEG", 127, 127, 64, 64, 64, 2},
        ScaleCase{"JPEG", 126, 4000, 64, 126, 4000, 1},  // one side too small
        ScaleCase{"JPEG", 64, 64, 64, 64, 64, 1},
        ScaleCase{"JPEG", 28, 28, 64, 28, 28, 1},  // grows: full size
        ScaleCase{"JPEG", 1920, 1080, 1080, 1920, 1080, 1},
        // WebP: libwebp rescales straight to the input when nothing grows.
        ScaleCase{"WebP", 1920, 1080, 64, 64, 64, 1},
        ScaleCase{"WebP", 64, 64, 64, 64, 64, 1},
        ScaleCase{"WebP", 100, 63, 64, 100, 63, 1},
        ScaleCase{"WebP", 28, 28, 64, 28, 28, 1},
        // No scaled decoding: always the full size.
        ScaleCase{"PNG", 4032, 3024, 64, 4032, 3024, 1},
        ScaleCase{"PNG", 28, 28, 64, 28, 28, 1},
        ScaleCase{"BMP", 1920, 1080, 64, 1920, 1080, 1},
        ScaleCase{"TIFF", 1920, 1080, 64, 1920, 1080, 1},
        ScaleCase{"PNM", 1920, 1080, 64, 1920, 1080, 1}),
    [](const auto& info) {
      const ScaleCase& c = info.param;
      return std::string(c.format) + "_" + std::to_string(c.width) + "x" +
             std::to_string(c.height) + "_into_" + std::to_string(c.input);
    });

// Real encoded headers of every format, each read and planned for a 64x64
// gray model: the plan's size, channels and bytes.
struct PlanCase {
  const char* ext;
  int width, height, type;
  int64_t decoded_width, decoded_height;
  int channels, bytes_per_sample;
};

class PlanTest : public ::testing::TestWithParam<PlanCase> {};

TEST_P(PlanTest, HeaderGivesTheDecodeAndItsBytes) {
  const PlanCase c = GetParam();
  cv::Mat image(c.height, c.width, c.type, cv::Scalar::all(100));
  ImagePreprocessor preprocessor(GraySpec64(), 50'000'000);
  absl::StatusOr<DecodePlan> plan = preprocessor.Plan(Encode(image, c.ext));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->header.width, c.width);
  EXPECT_EQ(plan->header.height, c.height);
  EXPECT_EQ(plan->scale.width, c.decoded_width);
  EXPECT_EQ(plan->scale.height, c.decoded_height);
  EXPECT_EQ(plan->channels, c.channels);
  EXPECT_EQ(plan->bytes_per_sample, c.bytes_per_sample);
  // A TIFF's decoder also holds a strip of at least 4 channels.
  const bool tiff = std::string(c.ext) == ".tiff";
  EXPECT_EQ(plan->header.decode_pixels > 0, tiff);
  EXPECT_EQ(plan->decoded_bytes,
            c.decoded_width * c.decoded_height * c.channels * c.bytes_per_sample +
                plan->header.decode_pixels * std::max(4, c.channels) *
                    c.bytes_per_sample);
}

TEST(ImagePreprocessorTest, TiffStripBuffersCountInTheDecodeBytes) {
  // One strip of the whole 1000x1000 image: 1 MB of gray pixels and a 4 MB
  // RGBA strip buffer. Under a 2 MB decode limit it is refused from the
  // header; the pixels alone would have fitted.
  const std::string tiff = TiffWithTags({{256, 1000}, {257, 1000}});
  ImagePreprocessor small(GraySpec(), 50'000'000, 2'000'000);
  absl::StatusOr<DecodePlan> refused = small.Plan(tiff);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  ImagePreprocessor big(GraySpec(), 50'000'000, 8'000'000);
  absl::StatusOr<DecodePlan> plan = big.Plan(tiff);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->decoded_bytes, 1'000'000 + 4'000'000);
}

TEST(ImagePreprocessorTest, PnmSidesAreReadWithEveryDigit) {
  // Leading zeros are digits like any other, as OpenCV's reader takes them:
  // the sides are 12000, not 1 (a reader stopping at 9 digits saw 1).
  absl::StatusOr<ImageHeader> header =
      ImagePreprocessor::ReadHeader("P5 0000000012000 0000000012000 255\n");
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->width, 12000);
  EXPECT_EQ(header->height, 12000);
  absl::StatusOr<DecodePlan> plan =
      ImagePreprocessor(GraySpec(), 50'000'000).Plan(
          "P5 0000000012000 0000000012000 255\n");
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  // Digits past any real size saturate, never wrap into range.
  header = ImagePreprocessor::ReadHeader(
      "P5 99999999999999999999999999999999 1 255\n");
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_GT(header->width, 50'000'000);
}

INSTANTIATE_TEST_SUITE_P(
    EveryFormat, PlanTest,
    ::testing::Values(
        PlanCase{".jpg", 1001, 700, CV_8UC3, 126, 88, 1, 1},  // gray model: luma
        PlanCase{".jpg", 100, 100, CV_8UC1, 100, 100, 1, 1},
        PlanCase{".webp", 640, 480, CV_8UC3, 64, 64, 3, 1},
        PlanCase{".webp", 40, 30, CV_8UC4, 40, 30, 3, 1},
        PlanCase{".png", 300, 200, CV_16UC4, 300, 200, 4, 2},
        PlanCase{".png", 300, 200, CV_8UC3, 300, 200, 3, 1},
        PlanCase{".png", 30, 20, CV_8UC1, 30, 20, 1, 1},
        PlanCase{".bmp", 300, 200, CV_8UC3, 300, 200, 3, 1},
        PlanCase{".tiff", 300, 200, CV_16UC3, 300, 200, 3, 2},
        PlanCase{".tiff", 300, 200, CV_8UC1, 300, 200, 1, 1},
        PlanCase{".ppm", 300, 200, CV_8UC3, 300, 200, 3, 1},
        PlanCase{".pgm", 300, 200, CV_16UC1, 300, 200, 1, 2}),
    [](const auto& info) {
      const PlanCase& c = info.param;
      return std::string(c.ext + 1) + "_" + std::to_string(c.width) + "x" +
             std::to_string(c.height) + "_" + std::to_string(c.type);
    });

// A file whose header says `width` x `height` and holds almost nothing else.
std::string ClaimSize(std::string bytes, const char* format, uint32_t width,
                      uint32_t height) {
  auto be = [&](size_t at, uint32_t v, int n) {
    for (int i = 0; i < n; ++i) {
      bytes[at + i] = static_cast<char>(v >> (8 * (n - 1 - i)));
    }
  };
  if (std::string(format) == "PNG") {
    be(16, width, 4);
    be(20, height, 4);
  } else {  // JPEG
    size_t sof = bytes.find("\xFF\xC0");
    be(sof + 5, height, 2);
    be(sof + 7, width, 2);
  }
  return bytes;
}

TEST(ImagePreprocessorTest, DecodeBudgetRefusesA16BitRgbaPngOf7000x7000) {
  // 381 KB on the wire in the attack; 392 MB decoded.
  std::string png = ClaimSize(
      Encode(cv::Mat(8, 8, CV_16UC4, cv::Scalar::all(9)), ".png"), "PNG", 7000, 7000);
  ImagePreprocessor preprocessor(GraySpec64(), 50'000'000, int64_t{128} << 20);
  absl::StatusOr<PreprocessedImage> image = preprocessor.Process(png);
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(image.status().message()),
            "decoding this 7000x7000 PNG image takes 392000000 bytes "
            "(7000x7000, 4 channel(s) of 16 bits), more than the 134217728 "
            "allowed");
}

TEST(ImagePreprocessorTest, DecodeBudgetPassesA12MegapixelJpegEvenDecodedWhole) {
  std::string jpeg = ClaimSize(Encode(Colour(), ".jpg"), "JPEG", 4032, 3024);
  InputSpec large = GraySpec();  // an RGB model as large as the photo
  large.width = 4032;
  large.height = 3024;
  large.channels = 3;
  large.color = "rgb";
  large.mean = {0, 0, 0};
  large.std = {1, 1, 1};
  ImagePreprocessor whole(large, 50'000'000, int64_t{128} << 20);
  absl::StatusOr<DecodePlan> plan = whole.Plan(jpeg);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->scale.denominator, 1);
  EXPECT_EQ(plan->decoded_bytes, 4032 * 3024 * 3);

  // For the 64x64 gray model it is an eighth each way, luma only: 190 KB.
  ImagePreprocessor small(GraySpec64(), 50'000'000, int64_t{128} << 20);
  plan = small.Plan(jpeg);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->decoded_bytes, 504 * 378);
}

// A CMYK JPEG is decoded into the model's colour like any other: its plan
// counts that, not its 4 components.
TEST(ImagePreprocessorTest, CmykJpegPlansAndDecodesIntoTheModelsColour) {
  const std::string cmyk = CmykJpeg(640, 480, /*ycck=*/false);
  ImagePreprocessor preprocessor(GraySpec64(), 50'000'000);
  absl::StatusOr<DecodePlan> plan = preprocessor.Plan(cmyk);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->header.channels, 4);
  EXPECT_EQ(plan->channels, 1);
  EXPECT_EQ(plan->decoded_bytes, 160 * 120);  // 1/4: 1/8 would be under 64 high
  absl::StatusOr<PreprocessedImage> image = preprocessor.Process(cmyk);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->chw.size(), 64u * 64u);
  absl::StatusOr<PreprocessedImage> cut =
      preprocessor.Process(cmyk.substr(0, cmyk.size() / 2));
  EXPECT_EQ(cut.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(cut.status().message()),
              HasSubstr("JPEG data ends before the last scanline"));
}

// --- Strict images: real truncated files of every format ---

struct TruncatedCase {
  const char* ext;
  const char* cause;
};

class TruncatedTest : public ::testing::TestWithParam<TruncatedCase> {};

TEST_P(TruncatedTest, DataThatEndsBeforeThePixelsIsRefusedWithItsCause) {
  cv::Mat photo(480, 640, CV_8UC3);
  cv::randu(photo, 0, 255);
  cv::GaussianBlur(photo, photo, {0, 0}, 3);
  const std::string whole = Encode(photo, GetParam().ext);
  ImagePreprocessor preprocessor(GraySpec64(), 50'000'000);
  ASSERT_TRUE(preprocessor.Process(whole).ok());
  for (size_t keep : {whole.size() / 2, whole.size() - whole.size() / 10}) {
    absl::StatusOr<PreprocessedImage> image =
        preprocessor.Process(whole.substr(0, keep));
    EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument)
        << keep << " of " << whole.size();
    EXPECT_THAT(std::string(image.status().message()),
                HasSubstr(GetParam().cause));
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryFormat, TruncatedTest,
    ::testing::Values(
        TruncatedCase{".jpg", "JPEG data ends before the last scanline"},
        TruncatedCase{".png", "PNG data ends before the image does"},
        TruncatedCase{".webp", "WebP data ends before the image does"},
        TruncatedCase{".bmp", "BMP data ends before the last row"},
        TruncatedCase{".ppm", "PNM data ends before the last row"},
        TruncatedCase{".tiff", "TIFF data ends before its image file directory"}),
    [](const auto& info) { return std::string(info.param.ext + 1); });

TEST(ImagePreprocessorTest, PngChunkFailingItsCrcIsRefusedAsCorrupt) {
  std::string bytes = Encode(Colour(), ".png");
  size_t idat = bytes.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  bytes[idat + 10] ^= 0x55;
  ImagePreprocessor preprocessor(GraySpec(), 1'000'000);
  auto image = preprocessor.Process(bytes);
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(image.status().message()),
              HasSubstr("PNG chunk IDAT at byte"));
  EXPECT_THAT(std::string(image.status().message()), HasSubstr("CRC"));
}

// libpng's own messages (OpenCV gives libpng its default handlers, which
// print to stderr) reach only the rate-limited decoder log.
TEST(ImagePreprocessorTest, PngWarningsNeverReachStderrPerRequest) {
  const std::string clean = Encode(Colour(), ".png");
  const std::string warned = WithChunkAfterHeader(clean, TextChunkFailingItsCrc());
  ImagePreprocessor preprocessor(GraySpec(), 1'000'000);
  absl::StatusOr<PreprocessedImage> expected = preprocessor.Process(clean);
  ASSERT_TRUE(expected.ok()) << expected.status();
  testing::internal::CaptureStderr();
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<PreprocessedImage> image = preprocessor.Process(warned);
    ASSERT_TRUE(image.ok()) << image.status();
    EXPECT_EQ(image->chw, expected->chw);
  }
  const std::string stderr_text = testing::internal::GetCapturedStderr();
  EXPECT_THAT(stderr_text, Not(HasSubstr("libpng")));
  EXPECT_LE(std::count(stderr_text.begin(), stderr_text.end(), '\n'), 5)
      << stderr_text;
}

TEST(ImagePreprocessorTest, PngDataThatDoesNotInflateIsRefusedWithItsCause) {
  const std::string bytes = WithUninflatableIdat(Encode(Colour(), ".png"));
  ImagePreprocessor preprocessor(GraySpec(), 1'000'000);
  testing::internal::CaptureStderr();
  absl::StatusOr<PreprocessedImage> image = preprocessor.Process(bytes);
  const std::string stderr_text = testing::internal::GetCapturedStderr();
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(image.status().message()),
              HasSubstr("IDAT: invalid block type"));
  EXPECT_THAT(stderr_text, Not(HasSubstr("libpng")));
}

// The plan counts the channels the PNG decodes into: gray and alpha, and RGB
// with a tRNS chunk, come out as BGRA.
TEST(ImagePreprocessorTest, PngPlanCountsTheChannelsItDecodesInto) {
  ImagePreprocessor preprocessor(GraySpec64(), 50'000'000);
  const std::string rgb = Encode(Colour(), ".png");
  absl::StatusOr<DecodePlan> plan = preprocessor.Plan(rgb);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->channels, 3);
  // The first pixel's colour, transparent.
  const std::string trns = PngChunk("tRNS", std::string(6, '\0'));
  const std::string transparent = WithChunkAfterHeader(rgb, trns);
  plan = preprocessor.Plan(transparent);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->channels, 4);
  EXPECT_EQ(plan->decoded_bytes, 37 * 23 * 4);
  // A tRNS after the image data is not read with the header: 3 channels.
  std::string late = rgb;
  late.insert(late.size() - 12, trns);  // before IEND
  plan = preprocessor.Plan(late);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->channels, 3);

  std::string gray_alpha = Encode(cv::Mat(23, 37, CV_8UC1, cv::Scalar(7)), ".png");
  gray_alpha[25] = 4;  // IHDR colour type: gray and alpha
  plan = preprocessor.Plan(gray_alpha);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->channels, 4);
}

TEST(ImagePreprocessorTest, BytesAfterTheEndStillPass) {
  ImagePreprocessor preprocessor(GraySpec(), 1'000'000);
  for (const char* ext : {".png", ".jpg", ".bmp"}) {
    std::string bytes = Encode(Colour(), ext);
    auto clean = preprocessor.Process(bytes);
    auto padded = preprocessor.Process(bytes + std::string(100, 'x'));
    ASSERT_TRUE(padded.ok()) << ext << ": " << padded.status();
    EXPECT_EQ(padded->chw, clean->chw) << ext;
  }
}

// --- AreaShrinkIntoPlanes (area_shrink.h): the photos' resize ---

// A table that gives back the sample and its channel: 1000 c + v.
std::vector<float> Identity(int channels) {
  std::vector<float> table(static_cast<size_t>(channels) * 256);
  for (int c = 0; c < channels; ++c) {
    for (int v = 0; v < 256; ++v) table[c * 256 + v] = 1000.0f * c + v;
  }
  return table;
}

// AreaShrinkIntoPlanes gives cv::resize's INTER_AREA samples, every one, in
// planes through the table.
void ExpectOpenCvsSamples(const cv::Mat& src, int width, int height) {
  SCOPED_TRACE(::testing::Message() << src.cols << "x" << src.rows << "x"
                                    << src.channels() << " to " << width << "x"
                                    << height);
  const int channels = src.channels();
  const std::vector<float> table = Identity(channels);
  std::vector<float> planes(static_cast<size_t>(width) * height * channels, -1);
  ASSERT_TRUE(AreaShrinkIntoPlanes(src, width, height, table.data(), planes.data()));
  cv::Mat theirs;
  cv::resize(src, theirs, cv::Size(width, height), 0, 0, cv::INTER_AREA);
  int differences = 0;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < channels; ++c) {
        const float expected =
            1000.0f * c + theirs.ptr<uchar>(y)[x * channels + c];
        const float ours = planes[(static_cast<size_t>(c) * height + y) * width + x];
        if (ours != expected && ++differences <= 5) {
          ADD_FAILURE() << "at " << x << "," << y << " channel " << c << ": "
                        << ours << " against OpenCV's " << expected;
        }
      }
    }
  }
  EXPECT_EQ(differences, 0);
}

cv::Mat Noise(int width, int height, int channels, std::mt19937* random) {
  cv::Mat image(height, width, CV_8UC(channels));
  std::uniform_int_distribution<int> sample(0, 255);
  for (int y = 0; y < height; ++y) {
    uchar* row = image.ptr<uchar>(y);
    for (int i = 0; i < width * channels; ++i) row[i] = static_cast<uchar>(sample(*random));
  }
  return image;
}

// The photos' own cases: 224x224 from 1920x1080 at 1/4 and 4032x3024 at
// 1/8, 64x64 from both at 1/8, and others of the decode scales.
TEST(AreaShrinkTest, DecodedPhotosGiveOpenCvsSamples) {
  std::mt19937 random(1);
  struct Case { int from_w, from_h, to_w, to_h; };
  for (const Case& c : {Case{480, 270, 224, 224}, Case{504, 378, 224, 224},
                        Case{240, 135, 64, 64}, Case{504, 378, 64, 64},
                        Case{501, 389, 224, 224}, Case{251, 195, 32, 32},
                        Case{224, 300, 224, 224}, Case{300, 224, 224, 224}}) {
    for (int channels : {1, 3}) {
      ExpectOpenCvsSamples(Noise(c.from_w, c.from_h, channels, &random), c.to_w,
                           c.to_h);
    }
  }
}

// Every ratio from just over 1 to over 8 on each side, noise and flat
// regions (where sums land on .5 and on 255 exactly).
TEST(AreaShrinkTest, AnyShrinkGivesOpenCvsSamples) {
  std::mt19937 random(2);
  std::uniform_int_distribution<int> side(1, 40);
  for (int i = 0; i < 300; ++i) {
    const int to_w = side(random), to_h = side(random);
    std::uniform_int_distribution<int> times(to_w, to_w * 9), times_h(to_h, to_h * 9);
    const int from_w = times(random), from_h = times_h(random);
    const int channels = i % 2 ? 3 : 1;
    cv::Mat src = Noise(from_w, from_h, channels, &random);
    if (i % 3 == 0) src.setTo(cv::Scalar::all(i % 2 ? 255 : 127));
    const double sx = static_cast<double>(from_w) / to_w;
    const double sy = static_cast<double>(from_h) / to_h;
    const bool whole = sx == static_cast<int>(sx) && sy == static_cast<int>(sy);
    if (whole || (from_w == to_w && from_h == to_h)) continue;
    ExpectOpenCvsSamples(src, to_w, to_h);
  }
}

// Where OpenCV takes its integer-area path, or would enlarge, it is left
// to OpenCV.
TEST(AreaShrinkTest, OtherCasesAreLeftToOpenCv) {
  std::mt19937 random(3);
  const std::vector<float> table = Identity(3);
  std::vector<float> planes(224 * 224 * 3);
  EXPECT_FALSE(AreaShrinkIntoPlanes(Noise(448, 672, 3, &random), 224, 224,
                                    table.data(), planes.data()));
  EXPECT_FALSE(AreaShrinkIntoPlanes(Noise(224, 224, 3, &random), 224, 224,
                                    table.data(), planes.data()));
  EXPECT_FALSE(AreaShrinkIntoPlanes(Noise(200, 300, 3, &random), 224, 224,
                                    table.data(), planes.data()));
  EXPECT_FALSE(AreaShrinkIntoPlanes(Noise(300, 300, 4, &random), 224, 224,
                                    table.data(), planes.data()));
}

// The colour path end to end: a photo for a 224x224 RGB model is exactly
// (every float equal) what preprocess.py computes with OpenCV: decoded at
// 1/4 or 1/2 by cv::imdecode, BGR2RGB, INTER_AREA, v / 255, minus the mean,
// over the std, in float32; and a gray model's likewise.
TEST(ImagePreprocessorTest, PhotosGivePythonsTensorExactly) {
  cv::Mat photo(1080, 1920, CV_8UC3);
  cv::randu(photo, 0, 255);
  cv::GaussianBlur(photo, photo, {0, 0}, 3);
  InputSpec rgb = GraySpec();
  rgb.height = rgb.width = 224;
  rgb.channels = 3;
  rgb.color = "rgb";
  rgb.mean = {0.485f, 0.456f, 0.406f};
  rgb.std = {0.229f, 0.224f, 0.225f};
  struct Case { int width, height, flags; InputSpec spec; };
  for (const Case& c :
       {Case{1920, 1080, cv::IMREAD_REDUCED_COLOR_4, rgb},
        Case{1001, 777, cv::IMREAD_REDUCED_COLOR_2, rgb},
        Case{1920, 1080, cv::IMREAD_REDUCED_GRAYSCALE_8, GraySpec64()}}) {
    SCOPED_TRACE(::testing::Message() << c.width << "x" << c.height << " for "
                                      << c.spec.channels << " channel(s)");
    cv::Mat scaled;
    cv::resize(photo, scaled, {c.width, c.height}, 0, 0, cv::INTER_AREA);
    std::string bytes = Encode(scaled, ".jpg", {cv::IMWRITE_JPEG_QUALITY, 90});
    ImagePreprocessor preprocessor(c.spec, 50'000'000);
    absl::StatusOr<PreprocessedImage> ours = preprocessor.Process(bytes);
    ASSERT_TRUE(ours.ok()) << ours.status();
    cv::Mat image = cv::imdecode(
        cv::Mat(1, static_cast<int>(bytes.size()), CV_8U, bytes.data()),
        c.flags | cv::IMREAD_IGNORE_ORIENTATION);
    if (c.spec.channels == 3) cv::cvtColor(image, image, cv::COLOR_BGR2RGB);
    cv::resize(image, image, {c.spec.width, c.spec.height}, 0, 0, cv::INTER_AREA);
    const int plane = c.spec.width * c.spec.height;
    ASSERT_EQ(ours->chw.size(), static_cast<size_t>(plane) * c.spec.channels);
    int differences = 0;
    for (int i = 0; i < plane; ++i) {
      for (int ch = 0; ch < c.spec.channels; ++ch) {
        const float x = static_cast<float>(image.data[i * c.spec.channels + ch]) / 255.0f;
        const float expected = (x - c.spec.mean[ch]) / c.spec.std[ch];
        differences += ours->chw[ch * plane + i] != expected;
      }
    }
    EXPECT_EQ(differences, 0);
  }
}

// Decoding small is a shortcut, not another picture: it stays close to
// decoding whole, then shrinking.
TEST(ImagePreprocessorTest, ScaledDecodesStayCloseToFullDecodes) {
  cv::Mat photo(1080, 1920, CV_8UC3);
  cv::randu(photo, 0, 255);
  cv::GaussianBlur(photo, photo, {0, 0}, 25);
  ImagePreprocessor preprocessor(GraySpec64(), 50'000'000);
  for (const char* ext : {".jpg", ".webp"}) {
    std::string bytes = Encode(photo, ext, {cv::IMWRITE_JPEG_QUALITY, 95});
    absl::StatusOr<PreprocessedImage> ours = preprocessor.Process(bytes);
    ASSERT_TRUE(ours.ok()) << ours.status();
    cv::Mat full = cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8U,
                                        bytes.data()),
                                cv::IMREAD_GRAYSCALE);
    cv::resize(full, full, {64, 64}, 0, 0, cv::INTER_AREA);
    double worst = 0;
    for (int i = 0; i < 64 * 64; ++i) {
      double pixel = ours->chw[i] * 0.25 + 0.5;  // undo the normalization
      worst = std::max(worst, std::abs(pixel - full.data[i] / 255.0));
    }
    EXPECT_LT(worst, 4 / 255.0) << ext;
  }
}

}  // namespace
}  // namespace gcnserve
