#include "server/decode/jpeg_decoder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <string>
#include <vector>

#include "tests/support/cmyk_jpeg.h"

namespace gcnserve {
namespace {

using ::testing::HasSubstr;

// A photo-like picture: smooth shading, edges and a little noise.
cv::Mat Photo(int width, int height, int channels) {
  cv::Mat image(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      image.at<cv::Vec3b>(y, x) = cv::Vec3b(
          static_cast<uchar>(255 * x / width), static_cast<uchar>(255 * y / height),
          static_cast<uchar>((x * y) % 251));
    }
  }
  cv::circle(image, {width / 2, height / 3}, std::max(1, height / 4),
             cv::Scalar(20, 200, 90), -1);
  cv::Mat noise(height, width, CV_8UC3);
  cv::randu(noise, 0, 40);
  image += noise;
  if (channels == 1) cv::cvtColor(image, image, cv::COLOR_BGR2GRAY);
  return image;
}

std::string Jpeg(const cv::Mat& image, bool progressive = false) {
  std::vector<uchar> bytes;
  EXPECT_TRUE(cv::imencode(".jpg", image, bytes,
                           {cv::IMWRITE_JPEG_QUALITY, 90,
                            cv::IMWRITE_JPEG_PROGRESSIVE, progressive ? 1 : 0}));
  return std::string(bytes.begin(), bytes.end());
}

// What OpenCV (and so model/'s Python reference) decodes, colour in RGB
// order as DecodeJpeg gives it (OpenCV's BGR, swapped).
cv::Mat OpenCvDecode(const std::string& bytes, int denominator, bool gray) {
  int flags = 0;
  switch (denominator) {
    case 1: flags = gray ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR; break;
    case 2: flags = gray ? cv::IMREAD_REDUCED_GRAYSCALE_2 : cv::IMREAD_REDUCED_COLOR_2; break;
    case 4: flags = gray ? cv::IMREAD_REDUCED_GRAYSCALE_4 : cv::IMREAD_REDUCED_COLOR_4; break;
    case 8: flags = gray ? cv::IMREAD_REDUCED_GRAYSCALE_8 : cv::IMREAD_REDUCED_COLOR_8; break;
  }
  cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8U,
                 const_cast<char*>(bytes.data()));
  cv::Mat image = cv::imdecode(buffer, flags | cv::IMREAD_IGNORE_ORIENTATION);
  if (!gray) cv::cvtColor(image, image, cv::COLOR_BGR2RGB);
  return image;
}

// DecodeJpeg at 1, 1/2, 1/4 and 1/8, gray and colour, gives exactly
// cv::imdecode's pixels for a width x height JPEG; with `min_stddev`, a
// picture (not one colour) whose spread is above it.
void ExpectOpenCvsPixelsAtEveryScale(const std::string& bytes, int width,
                                     int height, double min_stddev = -1) {
  for (int denominator : {1, 2, 4, 8}) {
    for (bool gray : {true, false}) {
      SCOPED_TRACE(::testing::Message() << "1/" << denominator
                                        << (gray ? " gray" : " colour"));
      absl::StatusOr<cv::Mat> ours = DecodeJpeg(bytes, denominator, gray);
      ASSERT_TRUE(ours.ok()) << ours.status();
      cv::Mat theirs = OpenCvDecode(bytes, denominator, gray);
      ASSERT_EQ(ours->cols, (width + denominator - 1) / denominator);
      ASSERT_EQ(ours->rows, (height + denominator - 1) / denominator);
      ASSERT_EQ(ours->size(), theirs.size());
      ASSERT_EQ(ours->type(), theirs.type());
      EXPECT_EQ(cv::norm(*ours, theirs, cv::NORM_INF), 0);
      if (min_stddev >= 0) {
        cv::Scalar mean, stddev;
        cv::meanStdDev(ours->reshape(1), mean, stddev);
        EXPECT_GT(stddev[0], min_stddev);
      }
    }
  }
}

struct Case {
  int width, height, channels;
  bool progressive;
};

class SameAsOpenCvTest : public ::testing::TestWithParam<Case> {};

TEST_P(SameAsOpenCvTest, EveryScaleAndColourGivesOpenCvsPixels) {
  const Case c = GetParam();
  const std::string bytes = Jpeg(Photo(c.width, c.height, c.channels), c.progressive);
  ExpectOpenCvsPixelsAtEveryScale(bytes, c.width, c.height);
}

INSTANTIATE_TEST_SUITE_P(
    Photos, SameAsOpenCvTest,
    ::testing::Values(Case{37, 23, 3, false}, Case{640, 480, 3, false},
                      Case{1001, 777, 3, false}, Case{1001, 777, 3, true},
                      Case{300, 211, 1, false}),
    [](const auto& info) {
      const Case& c = info.param;
      return std::to_string(c.width) + "x" + std::to_string(c.height) +
             (c.channels == 1 ? "_gray" : "_colour") +
             (c.progressive ? "_progressive" : "");
    });

struct CmykCase {
  int width, height;
  bool ycck, progressive;
};

class CmykSameAsOpenCvTest : public ::testing::TestWithParam<CmykCase> {};

TEST_P(CmykSameAsOpenCvTest, EveryScaleAndColourGivesOpenCvsPixels) {
  const CmykCase c = GetParam();
  const std::string bytes = CmykJpeg(c.width, c.height, c.ycck, c.progressive);
  ExpectOpenCvsPixelsAtEveryScale(bytes, c.width, c.height,
                                  /*min_stddev=*/10);
}

INSTANTIATE_TEST_SUITE_P(
    CmykAndYcck, CmykSameAsOpenCvTest,
    ::testing::Values(CmykCase{37, 23, false, false}, CmykCase{640, 480, false, false},
                      CmykCase{1001, 777, true, false}, CmykCase{300, 211, true, true},
                      CmykCase{37, 23, true, false}),
    [](const auto& info) {
      const CmykCase& c = info.param;
      return std::to_string(c.width) + "x" + std::to_string(c.height) +
             (c.ycck ? "_ycck" : "_cmyk") + (c.progressive ? "_progressive" : "");
    });

TEST(DecodeJpegTest, ACmykJpegIsCmykOrYcckAsLibjpegSeesIt) {
  for (bool ycck : {false, true}) {
    const std::string bytes = CmykJpeg(64, 48, ycck);
    jpeg_decompress_struct cinfo;
    jpeg_error_mgr jerr;
    cinfo.err = jpeg_std_error(&jerr);
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()),
                 static_cast<unsigned long>(bytes.size()));
    ASSERT_EQ(jpeg_read_header(&cinfo, TRUE), JPEG_HEADER_OK);
    EXPECT_EQ(cinfo.num_components, 4);
    EXPECT_EQ(cinfo.jpeg_color_space, ycck ? JCS_YCCK : JCS_CMYK);
    jpeg_destroy_decompress(&cinfo);
  }
}

TEST(DecodeJpegTest, ACmykJpegThatEndsBeforeTheLastScanlineIsRefused) {
  const std::string bytes = CmykJpeg(640, 480, /*ycck=*/false);
  for (size_t keep : {bytes.size() / 2, bytes.size() - 100}) {
    for (bool gray : {true, false}) {
      absl::StatusOr<cv::Mat> image = DecodeJpeg(bytes.substr(0, keep), 2, gray);
      EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(image.status().message()),
                  HasSubstr("JPEG data ends before the last scanline"));
      // OpenCV fills the rest and calls it a success.
      EXPECT_FALSE(OpenCvDecode(bytes.substr(0, keep), 2, gray).empty());
    }
  }
}

TEST(DecodeJpegTest, DataThatEndsBeforeTheLastScanlineIsRefused) {
  const std::string bytes = Jpeg(Photo(640, 480, 3));
  for (size_t keep : {bytes.size() / 2, bytes.size() - 100}) {
    absl::StatusOr<cv::Mat> image = DecodeJpeg(bytes.substr(0, keep), 1, true);
    EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(image.status().message()),
                HasSubstr("JPEG data ends before the last scanline"));
    // OpenCV fills the rest with gray and calls it a success.
    EXPECT_FALSE(OpenCvDecode(bytes.substr(0, keep), 1, true).empty());
  }
}

TEST(DecodeJpegTest, AProgressiveJpegMissingScansIsRefused) {
  const std::string bytes = Jpeg(Photo(640, 480, 3), /*progressive=*/true);
  absl::StatusOr<cv::Mat> image =
      DecodeJpeg(bytes.substr(0, bytes.size() * 2 / 3), 8, true);
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(image.status().message()),
              HasSubstr("JPEG data ends before its last scan"));
}

TEST(DecodeJpegTest, AHeaderClaimingMoreThanTheDataHoldsIsRefusedAtOnce) {
  // The 634-byte JPEG that says it is 7000x7000.
  std::string bytes = Jpeg(Photo(16, 16, 3));
  ASSERT_LT(bytes.size(), 1000u);
  size_t sof = bytes.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  for (size_t at : {sof + 5, sof + 7}) {  // height, width: 7000 = 0x1B58
    bytes[at] = '\x1B';
    bytes[at + 1] = '\x58';
  }
  bytes.resize(bytes.size() - 2);  // and no end marker
  absl::StatusOr<cv::Mat> image = DecodeJpeg(bytes, 1, true);
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(image.status().message()),
              HasSubstr("JPEG data ends before the last scanline"));
}

TEST(DecodeJpegTest, WarningsThatLeaveEveryPixelDecodedPass) {
  const std::string bytes = Jpeg(Photo(200, 120, 3));
  absl::StatusOr<cv::Mat> clean = DecodeJpeg(bytes, 2, true);
  ASSERT_TRUE(clean.ok()) << clean.status();

  // Bytes after the end marker: not even a warning.
  absl::StatusOr<cv::Mat> trailing = DecodeJpeg(bytes + "trailing junk", 2, true);
  ASSERT_TRUE(trailing.ok()) << trailing.status();
  EXPECT_EQ(cv::norm(*trailing, *clean, cv::NORM_INF), 0);

  // No end marker at all: the data still holds every pixel.
  absl::StatusOr<cv::Mat> no_end = DecodeJpeg(bytes.substr(0, bytes.size() - 2), 2, true);
  ASSERT_TRUE(no_end.ok()) << no_end.status();
  EXPECT_EQ(cv::norm(*no_end, *clean, cv::NORM_INF), 0);

  // Junk between two markers: libjpeg warns and skips it.
  std::string junk = bytes;
  size_t dqt = junk.find("\xFF\xDB");
  ASSERT_NE(dqt, std::string::npos);
  junk.insert(dqt, "\x01\x02\x03");
  std::vector<std::string> warnings;
  absl::StatusOr<cv::Mat> warned = DecodeJpeg(
      junk, 2, true, [&](std::string_view w) { warnings.emplace_back(w); });
  ASSERT_TRUE(warned.ok()) << warned.status();
  EXPECT_EQ(cv::norm(*warned, *clean, cv::NORM_INF), 0);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("extraneous bytes"));
}

TEST(DecodeJpegTest, GarbageIsRefusedWithLibjpegsReason) {
  absl::StatusOr<cv::Mat> image =
      DecodeJpeg(std::string("\xFF\xD8\xFF\xC0\x00\x02garbage", 12), 1, true);
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(image.status().message()), HasSubstr("JPEG"));
}

}  // namespace
}  // namespace gcnserve
