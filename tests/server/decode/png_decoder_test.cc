#include "server/decode/png_decoder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <png.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <csetjmp>
#include <random>
#include <string>
#include <vector>

#include "tests/support/png_chunks.h"

namespace gcnserve {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A PNG as libpng writes it: every colour type, bit depth, tRNS and
// interlace that a client may send.
struct PngCase {
  const char* name;
  int colour_type;  // PNG_COLOR_TYPE_*
  int bit_depth;
  bool trns = false;
  bool interlaced = false;
};

void PrintTo(const PngCase& c, std::ostream* os) { *os << c.name; }

void AppendPngBytes(png_structp png, png_bytep data, size_t size) {
  static_cast<std::string*>(png_get_io_ptr(png))
      ->append(reinterpret_cast<const char*>(data), size);
}

// Only C state between setjmp and libpng: `rows` and `out` are the caller's.
bool WriteWithLibpng(const PngCase& c, int width, int height,
                     png_bytepp rows, const png_color* palette,
                     int palette_size, const png_color_16* trans_value,
                     const png_byte* trans_alpha, std::string* out) {
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, out, AppendPngBytes, nullptr);
  png_set_IHDR(png, info, width, height, c.bit_depth, c.colour_type,
               c.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (c.colour_type == PNG_COLOR_TYPE_PALETTE) {
    png_set_PLTE(png, info, palette, palette_size);
  }
  if (c.trns && c.colour_type == PNG_COLOR_TYPE_PALETTE) {
    png_set_tRNS(png, info, trans_alpha, palette_size, nullptr);
  } else if (c.trns) {
    png_set_tRNS(png, info, nullptr, 0, trans_value);
  }
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return true;
}

// Random pixels (palette indices within the palette); with `trns`, the
// transparent colour is the first pixel's, so some pixels are transparent.
std::string MakePng(const PngCase& c, int width = 37, int height = 23) {
  const int samples = c.colour_type == PNG_COLOR_TYPE_GRAY         ? 1
                      : c.colour_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                      : c.colour_type == PNG_COLOR_TYPE_RGB        ? 3
                      : c.colour_type == PNG_COLOR_TYPE_RGB_ALPHA  ? 4
                                                                   : 1;
  const size_t row_bytes = (static_cast<size_t>(width) * samples * c.bit_depth + 7) / 8;
  std::mt19937 random(c.colour_type * 100 + c.bit_depth);
  const int palette_size = 1 << std::min(c.bit_depth, 8);
  std::vector<std::vector<png_byte>> pixels(height, std::vector<png_byte>(row_bytes));
  for (auto& row : pixels) {
    for (png_byte& b : row) b = static_cast<png_byte>(random());
    if (c.colour_type == PNG_COLOR_TYPE_PALETTE && c.bit_depth == 8) {
      for (png_byte& b : row) b = static_cast<png_byte>(b % palette_size);
    }
  }
  std::vector<png_bytep> rows;
  for (auto& row : pixels) rows.push_back(row.data());
  std::vector<png_color> palette(palette_size);
  std::vector<png_byte> trans_alpha(palette_size);
  for (int i = 0; i < palette_size; ++i) {
    palette[i] = {static_cast<png_byte>(random()), static_cast<png_byte>(random()),
                  static_cast<png_byte>(random())};
    trans_alpha[i] = static_cast<png_byte>(random());
  }
  // The first pixel's samples, as PNG stores them (big-endian, packed).
  auto sample = [&](int i) -> png_uint_16 {
    const png_byte* p = pixels[0].data();
    if (c.bit_depth == 16) return static_cast<png_uint_16>(p[2 * i] << 8 | p[2 * i + 1]);
    if (c.bit_depth == 8) return p[i];
    return static_cast<png_uint_16>(p[0] >> (8 - c.bit_depth));
  };
  png_color_16 trans_value{};
  if (c.colour_type == PNG_COLOR_TYPE_GRAY) trans_value.gray = sample(0);
  if (c.colour_type == PNG_COLOR_TYPE_RGB) {
    trans_value.red = sample(0);
    trans_value.green = sample(1);
    trans_value.blue = sample(2);
  }
  std::string out;
  EXPECT_TRUE(WriteWithLibpng(c, width, height, rows.data(), palette.data(),
                              palette_size, &trans_value, trans_alpha.data(), &out));
  return out;
}

cv::Mat OpenCvDecode(const std::string& bytes) {
  return cv::imdecode(std::vector<uchar>(bytes.begin(), bytes.end()),
                      cv::IMREAD_UNCHANGED);
}

class PngSameAsOpenCvTest : public ::testing::TestWithParam<PngCase> {};

TEST_P(PngSameAsOpenCvTest, TypeAndEveryValueAreOpenCvs) {
  const std::string bytes = MakePng(GetParam());
  cv::Mat theirs = OpenCvDecode(bytes);
  ASSERT_FALSE(theirs.empty());
  absl::StatusOr<cv::Mat> ours = DecodePng(bytes);
  ASSERT_TRUE(ours.ok()) << ours.status();
  ASSERT_EQ(ours->size(), theirs.size());
  ASSERT_EQ(ours->type(), theirs.type())
      << cv::typeToString(ours->type()) << " vs " << cv::typeToString(theirs.type());
  EXPECT_EQ(cv::norm(*ours, theirs, cv::NORM_INF), 0);
  // Not a constant image: the comparison has something to compare.
  cv::Scalar mean, stddev;
  cv::meanStdDev(ours->reshape(1), mean, stddev);
  EXPECT_GT(stddev[0], 0);
}

INSTANTIATE_TEST_SUITE_P(
    EveryKindOfPng, PngSameAsOpenCvTest,
    ::testing::Values(
        PngCase{"gray1", PNG_COLOR_TYPE_GRAY, 1},
        PngCase{"gray2", PNG_COLOR_TYPE_GRAY, 2},
        PngCase{"gray4", PNG_COLOR_TYPE_GRAY, 4},
        PngCase{"gray8", PNG_COLOR_TYPE_GRAY, 8},
        PngCase{"gray16", PNG_COLOR_TYPE_GRAY, 16},
        PngCase{"gray2_trns", PNG_COLOR_TYPE_GRAY, 2, true},
        PngCase{"gray8_trns", PNG_COLOR_TYPE_GRAY, 8, true},
        PngCase{"gray16_trns", PNG_COLOR_TYPE_GRAY, 16, true},
        PngCase{"gray_alpha8", PNG_COLOR_TYPE_GRAY_ALPHA, 8},
        PngCase{"gray_alpha16", PNG_COLOR_TYPE_GRAY_ALPHA, 16},
        PngCase{"rgb8", PNG_COLOR_TYPE_RGB, 8},
        PngCase{"rgb16", PNG_COLOR_TYPE_RGB, 16},
        PngCase{"rgb8_trns", PNG_COLOR_TYPE_RGB, 8, true},
        PngCase{"rgb16_trns", PNG_COLOR_TYPE_RGB, 16, true},
        PngCase{"rgba8", PNG_COLOR_TYPE_RGB_ALPHA, 8},
        PngCase{"rgba16", PNG_COLOR_TYPE_RGB_ALPHA, 16},
        PngCase{"palette1", PNG_COLOR_TYPE_PALETTE, 1},
        PngCase{"palette2", PNG_COLOR_TYPE_PALETTE, 2},
        PngCase{"palette4", PNG_COLOR_TYPE_PALETTE, 4},
        PngCase{"palette8", PNG_COLOR_TYPE_PALETTE, 8},
        PngCase{"palette4_trns", PNG_COLOR_TYPE_PALETTE, 4, true},
        PngCase{"palette8_trns", PNG_COLOR_TYPE_PALETTE, 8, true},
        PngCase{"interlaced_gray1", PNG_COLOR_TYPE_GRAY, 1, false, true},
        PngCase{"interlaced_gray_alpha8", PNG_COLOR_TYPE_GRAY_ALPHA, 8, false, true},
        PngCase{"interlaced_rgb16", PNG_COLOR_TYPE_RGB, 16, false, true},
        PngCase{"interlaced_rgba8", PNG_COLOR_TYPE_RGB_ALPHA, 8, false, true},
        PngCase{"interlaced_palette8_trns", PNG_COLOR_TYPE_PALETTE, 8, true, true}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(DecodePngTest, OpenCvsOwnPngsDecodeAlike) {
  std::mt19937 random(7);
  for (int type : {CV_8UC1, CV_8UC3, CV_8UC4, CV_16UC1, CV_16UC3, CV_16UC4}) {
    cv::Mat image(19, 41, type);
    cv::randu(image, 0, CV_MAT_DEPTH(type) == CV_16U ? 65536 : 256);
    std::vector<uchar> bytes;
    ASSERT_TRUE(cv::imencode(".png", image, bytes));
    absl::StatusOr<cv::Mat> ours =
        DecodePng(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    ASSERT_TRUE(ours.ok()) << ours.status();
    ASSERT_EQ(ours->type(), type);
    EXPECT_EQ(cv::norm(*ours, image, cv::NORM_INF), 0) << cv::typeToString(type);
  }
}

TEST(DecodePngTest, LibpngWarningsGoToWarnAndNeverToStderr) {
  const std::string clean = MakePng({"rgb8", PNG_COLOR_TYPE_RGB, 8});
  const std::string bad_text = TextChunkFailingItsCrc();
  // A colour profile too short to be one: libpng ignores it.
  const std::string bad_profile =
      PngChunk("iCCP", std::string("ICC\0\0", 5) + "xx");
  absl::StatusOr<cv::Mat> expected = DecodePng(clean);
  ASSERT_TRUE(expected.ok()) << expected.status();

  for (const auto& [chunk, warning] :
       {std::pair{bad_text, "tEXt: CRC error"}, std::pair{bad_profile, "iCCP"}}) {
    const std::string bytes = WithChunkAfterHeader(clean, chunk);
    std::vector<std::string> warnings;
    testing::internal::CaptureStderr();
    absl::StatusOr<cv::Mat> image =
        DecodePng(bytes, [&](std::string_view w) { warnings.emplace_back(w); });
    const std::string stderr_text = testing::internal::GetCapturedStderr();
    ASSERT_TRUE(image.ok()) << image.status();
    EXPECT_EQ(cv::norm(*image, *expected, cv::NORM_INF), 0);
    ASSERT_EQ(warnings.size(), 1u) << warning;
    EXPECT_THAT(warnings[0], HasSubstr(warning));
    EXPECT_THAT(stderr_text, IsEmpty());
  }
}

TEST(DecodePngTest, CompressedDataThatDoesNotInflateIsRefusedQuietly) {
  const std::string bytes =
      WithUninflatableIdat(MakePng({"rgb8", PNG_COLOR_TYPE_RGB, 8}));
  ASSERT_NE(bytes, MakePng({"rgb8", PNG_COLOR_TYPE_RGB, 8}));
  testing::internal::CaptureStderr();
  absl::StatusOr<cv::Mat> image = DecodePng(bytes, [](std::string_view w) {
    ADD_FAILURE() << "not a warning: " << w;
  });
  const std::string stderr_text = testing::internal::GetCapturedStderr();
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(image.status().message()),
              HasSubstr("could not decode the PNG image: IDAT: invalid block type"));
  EXPECT_THAT(stderr_text, IsEmpty());
}

TEST(DecodePngTest, DataThatEndsBeforeTheImageIsRefused) {
  const std::string bytes = MakePng({"rgba16", PNG_COLOR_TYPE_RGB_ALPHA, 16}, 300, 200);
  for (size_t keep : {size_t{20}, bytes.size() / 2, bytes.size() - 13}) {
    testing::internal::CaptureStderr();
    absl::StatusOr<cv::Mat> image = DecodePng(bytes.substr(0, keep));
    EXPECT_THAT(testing::internal::GetCapturedStderr(), IsEmpty());
    EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument) << keep;
    EXPECT_THAT(std::string(image.status().message()),
                HasSubstr("PNG data ends before the image does"))
        << keep;
  }
}

TEST(DecodePngTest, NotAPngIsRefusedWithLibpngsReason) {
  absl::StatusOr<cv::Mat> image = DecodePng("GIF89a and then some more bytes");
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(image.status().message()), HasSubstr("PNG"));
}

}  // namespace
}  // namespace gcnserve
