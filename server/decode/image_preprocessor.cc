#include "server/decode/image_preprocessor.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <utility>
#include <limits>
#include <map>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <zlib.h>

#include "absl/strings/str_cat.h"
#include "server/base/log.h"
#include "server/decode/area_shrink.h"
#include "server/decode/jpeg_decoder.h"
#include "server/decode/png_decoder.h"
#include "server/decode/webp_decoder.h"

namespace gcnserve {
namespace {

using Bytes = std::string_view;

uint32_t U8(Bytes b, size_t i) { return static_cast<unsigned char>(b[i]); }
uint32_t Be16(Bytes b, size_t i) { return U8(b, i) << 8 | U8(b, i + 1); }
uint32_t Be32(Bytes b, size_t i) { return Be16(b, i) << 16 | Be16(b, i + 2); }
uint32_t Le16(Bytes b, size_t i) { return U8(b, i) | U8(b, i + 1) << 8; }
uint32_t Le32(Bytes b, size_t i) { return Le16(b, i) | Le16(b, i + 2) << 16; }
uint32_t Le24(Bytes b, size_t i) { return Le16(b, i) | U8(b, i + 2) << 16; }

absl::Status Truncated(const char* format) {
  return absl::InvalidArgumentError(
      absl::StrCat(format, " header is truncated or corrupt"));
}

// Whether a tRNS chunk comes before the image data, where libpng reads it
// with the header (and OpenCV then decodes RGB or a palette into BGRA).
bool PngHasTransparency(Bytes b) {
  size_t pos = 8;
  while (pos + 8 <= b.size()) {
    const Bytes type = b.substr(pos + 4, 4);
    if (type == "tRNS") return true;
    if (type == "IDAT") return false;
    pos += 12 + size_t{Be32(b, pos)};
  }
  return false;
}

absl::StatusOr<ImageHeader> PngHeader(Bytes b) {
  if (b.size() < 26 || b.substr(12, 4) != "IHDR") return Truncated("PNG");
  ImageHeader header{"PNG", Be32(b, 16), Be32(b, 20)};
  // The channels DecodePng gives: colour type 0 gray (1), 2 RGB and
  // 3 palette (3 BGR, 4 BGRA with a tRNS chunk), 4 gray and alpha and 6 RGBA
  // (4 BGRA).
  const uint32_t colour = U8(b, 25);
  header.channels = colour == 0                  ? 1
                    : colour == 2 || colour == 3 ? (PngHasTransparency(b) ? 4 : 3)
                                                 : 4;
  header.bytes_per_sample = U8(b, 24) == 16 ? 2 : 1;
  return header;
}

absl::StatusOr<ImageHeader> JpegHeader(Bytes b) {
  size_t pos = 2;
  while (pos + 4 <= b.size()) {
    if (U8(b, pos) != 0xFF) return Truncated("JPEG");
    uint32_t marker = U8(b, pos + 1);
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
      pos += 2;  // markers without a length
      continue;
    }
    bool start_of_frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 &&
                          marker != 0xC8 && marker != 0xCC;
    if (start_of_frame) {
      if (pos + 10 > b.size()) break;
      ImageHeader header{"JPEG", Be16(b, pos + 7), Be16(b, pos + 5)};
      header.channels = static_cast<int>(U8(b, pos + 9));
      header.bytes_per_sample = U8(b, pos + 4) > 8 ? 2 : 1;
      return header;
    }
    pos += 2 + Be16(b, pos + 2);
  }
  return Truncated("JPEG");
}

absl::StatusOr<ImageHeader> BmpHeader(Bytes b) {
  if (b.size() < 26) return Truncated("BMP");
  if (Le32(b, 14) == 12) {  // OS/2 1.x
    ImageHeader header{"BMP", Le16(b, 18), Le16(b, 20), 3};
    return header;
  }
  if (b.size() < 30) return Truncated("BMP");
  auto height = static_cast<int32_t>(Le32(b, 22));  // negative: top-down
  ImageHeader header{"BMP", static_cast<int32_t>(Le32(b, 18)),
                     std::llabs(static_cast<long long>(height))};
  header.channels = Le16(b, 28) == 32 ? 4 : 3;
  return header;
}

absl::StatusOr<ImageHeader> WebpHeader(Bytes b) {
  if (b.size() < 30) return Truncated("WebP");
  Bytes chunk = b.substr(12, 4);
  if (chunk == "VP8 ") {
    return ImageHeader{"WebP", Le16(b, 26) & 0x3FFF, Le16(b, 28) & 0x3FFF, 3};
  }
  if (chunk == "VP8L") {
    uint32_t bits = Le32(b, 21);
    return ImageHeader{"WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1,
                       bits >> 28 & 1 ? 4 : 3};
  }
  if (chunk == "VP8X") {
    return ImageHeader{"WebP", Le24(b, 24) + 1, Le24(b, 27) + 1,
                       U8(b, 20) & 0x10 ? 4 : 3};
  }
  return Truncated("WebP");
}

absl::StatusOr<ImageHeader> TiffHeader(Bytes b) {
  bool le = b[0] == 'I';
  auto u16 = [&](size_t i) { return le ? Le16(b, i) : Be16(b, i); };
  auto u32 = [&](size_t i) { return le ? Le32(b, i) : Be32(b, i); };
  if (b.size() < 8) return Truncated("TIFF");
  size_t ifd = u32(4);
  // Writers often put the directory after the pixels: a cut file loses it.
  const absl::Status cut = absl::InvalidArgumentError(absl::StrCat(
      "TIFF data ends before its image file directory does (", b.size(),
      " bytes; truncated)"));
  if (ifd + 2 > b.size()) return cut;
  uint32_t entries = u16(ifd);
  // ImageWidth, ImageLength, RowsPerStrip, TileWidth, TileLength; -1: absent.
  std::map<uint32_t, int64_t> tags = {
      {256, -1}, {257, -1}, {278, -1}, {322, -1}, {323, -1}};
  int channels = 1;
  int bits = 1;
  for (uint32_t i = 0; i < entries; ++i) {
    size_t e = ifd + 2 + 12 * i;
    if (e + 12 > b.size()) return cut;
    uint32_t tag = u16(e), type = u16(e + 2), count = u32(e + 4);
    int64_t value = type == 3 ? u16(e + 8) : u32(e + 8);  // SHORT or LONG
    if (tag == 277) channels = static_cast<int>(std::min<int64_t>(value, 64));
    if (tag == 258) {  // BitsPerSample: one SHORT per sample; the first
      size_t at = count * 2 <= 4 ? e + 8 : u32(e + 8);
      bits = at + 2 <= b.size() ? static_cast<int>(u16(at)) : 8;
    }
    auto known = tags.find(tag);
    if (known == tags.end()) continue;
    if (known->second >= 0) {  // which one would the decoder take?
      return absl::InvalidArgumentError(
          absl::StrCat("TIFF header gives tag ", tag, " twice"));
    }
    known->second = value;
  }
  ImageHeader header{"TIFF", tags[256], tags[257]};
  header.channels = channels;
  header.bytes_per_sample = std::max(1, (std::min(bits, 64) + 7) / 8);
  if (header.width < 0 || header.height < 0) return Truncated("TIFF");
  // OpenCV 4.6 allocates a whole strip (or tile) of 4 channels, even where
  // RowsPerStrip is far beyond the image's height: a 224-byte file can ask
  // for 2 GB (tests/fuzz/regressions/tiff_strip_beyond_the_image).
  auto area = [](int64_t a, int64_t b) {
    return a > 0 && b > std::numeric_limits<int64_t>::max() / a
               ? std::numeric_limits<int64_t>::max()
               : a * b;
  };
  // Without RowsPerStrip (or with 0 or 2^32-1) the strip is the whole image.
  const int64_t rows_per_strip = tags[278];
  header.decode_pixels = area(
      header.width, rows_per_strip > 0 && rows_per_strip < 0xFFFFFFFF
                        ? rows_per_strip
                        : header.height);
  if (tags[322] > 0 && tags[323] > 0) {
    header.decode_pixels =
        std::max(header.decode_pixels, area(tags[322], tags[323]));
  }
  return header;
}

// The numbers of a PNM header ("P5 <width> <height> <maxval>", tokens
// separated by whitespace and comments; a PBM has no maxval) and where the
// binary data of P4, P5 and P6 begins.
struct PnmFields {
  int64_t width = 0, height = 0, maxval = 1;
  size_t data_offset = 0;
};

constexpr int64_t kPnmSaturate = int64_t{1} << 40;

absl::StatusOr<PnmFields> ReadPnmFields(Bytes b) {
  const bool bitmap = b[1] == '1' || b[1] == '4';
  int64_t numbers[3] = {0, 0, 1};
  size_t pos = 2;
  for (int n = 0; n < (bitmap ? 2 : 3); ++n) {
    int64_t& number = numbers[n];
    while (pos < b.size() && (std::isspace(U8(b, pos)) || b[pos] == '#')) {
      if (b[pos] == '#') {
        while (pos < b.size() && b[pos] != '\n') ++pos;
      } else {
        ++pos;
      }
    }
    size_t start = pos;
    number = 0;
    // Every digit, as OpenCV's reader takes them ("0000000012000" is 12000),
    // saturating far above any size the checks let through.
    while (pos < b.size() && std::isdigit(U8(b, pos))) {
      number = std::min<int64_t>(number * 10 + (b[pos++] - '0'), kPnmSaturate);
    }
    if (pos == start) return Truncated("PNM");
  }
  return PnmFields{numbers[0], numbers[1], numbers[2], pos + 1};
}

absl::StatusOr<ImageHeader> PnmHeader(Bytes b) {
  absl::StatusOr<PnmFields> fields = ReadPnmFields(b);
  if (!fields.ok()) return fields.status();
  ImageHeader header{"PNM", fields->width, fields->height};
  header.channels = b[1] == '3' || b[1] == '6' ? 3 : 1;
  header.bytes_per_sample = fields->maxval > 255 ? 2 : 1;
  return header;
}


// Data that ends before the pixels do, found from the container's structure
// before a decoder sees it, so the cause is named (and libpng never prints
// its own complaint). OK when the structure is whole.
absl::Status CheckPngComplete(Bytes b) {
  size_t pos = 8;
  while (pos + 8 <= b.size()) {
    const uint32_t length = Be32(b, pos);
    const std::string type(b.substr(pos + 4, 4));
    if (length > 0x7FFFFFFF) {
      return absl::InvalidArgumentError(absl::StrCat(
          "PNG chunk at byte ", pos, " claims ", length,
          " bytes: the data is corrupt"));
    }
    if (pos + 12 + length > b.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "PNG data ends before the image does: cut inside a ", type,
          " chunk (", b.size(), " bytes, the chunk needs ",
          pos + 12 + length, ")"));
    }
    // Critical chunks (an upper-case first letter) must be intact; libpng
    // only warns about the others and skips them.
    if (std::isupper(U8(b, pos + 4))) {
      const auto* start = reinterpret_cast<const Bytef*>(b.data() + pos + 4);
      if (crc32(0, start, length + 4) != Be32(b, pos + 8 + length)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "PNG chunk ", type, " at byte ", pos,
            " fails its CRC check: the data is corrupt"));
      }
    }
    if (type == "IEND") return absl::OkStatus();
    pos += 12 + length;
  }
  return absl::InvalidArgumentError(
      "PNG data ends before the image does: no IEND chunk (truncated)");
}

absl::Status CheckBmpComplete(Bytes b, const ImageHeader& header) {
  if (b.size() < 34 || Le32(b, 14) < 40) return absl::OkStatus();
  const uint32_t compression = Le32(b, 30);
  if (compression != 0 && compression != 3) return absl::OkStatus();  // RLE
  const int64_t row = (header.width * Le16(b, 28) + 31) / 32 * 4;
  const int64_t needed = int64_t{Le32(b, 10)} + row * header.height;
  if (static_cast<int64_t>(b.size()) < needed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "BMP data ends before the last row (", b.size(), " bytes, its header "
        "says ", needed, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckPnmComplete(Bytes b, const ImageHeader& header) {
  if (b[1] < '4') return absl::OkStatus();  // ASCII: no fixed size
  absl::StatusOr<PnmFields> fields = ReadPnmFields(b);
  if (!fields.ok()) return fields.status();
  const int64_t row = b[1] == '4' ? (header.width + 7) / 8
                                  : header.width * header.channels *
                                        header.bytes_per_sample;
  const int64_t needed =
      static_cast<int64_t>(fields->data_offset) + row * header.height;
  if (static_cast<int64_t>(b.size()) < needed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "PNM data ends before the last row (", b.size(), " bytes, its header "
        "says ", needed, ")"));
  }
  return absl::OkStatus();
}

// Client-caused decoder messages: a few lines a minute at most.
RateLimitedLog& DecoderLog() {
  static auto* log =
      new RateLimitedLog(5, std::chrono::seconds(60), Clock::Real());
  return *log;
}

absl::StatusOr<cv::Mat> DecodeWithOpenCv(Bytes encoded,
                                         const ImageHeader& header) {
  cv::Mat image;
  try {
    cv::Mat bytes(1, static_cast<int>(encoded.size()), CV_8U,
                  const_cast<char*>(encoded.data()));
    image = cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "could not decode the ", header.format, " image: ", e.what()));
  }
  if (image.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "could not decode the ", header.format,
        " image: the data is corrupt or truncated"));
  }
  return image;
}

}  // namespace

DecodeScale ChooseDecodeScale(const ImageHeader& header, int input_width,
                              int input_height) {
  DecodeScale full{header.width, header.height, 1};
  if (header.format == "JPEG") {
    for (int denominator : {8, 4, 2}) {
      int64_t width = (header.width + denominator - 1) / denominator;
      int64_t height = (header.height + denominator - 1) / denominator;
      if (width >= input_width && height >= input_height) {
        return DecodeScale{width, height, denominator};
      }
    }
  } else if (header.format == "WebP") {
    if (header.width >= input_width && header.height >= input_height) {
      return DecodeScale{input_width, input_height, 1};
    }
  }
  return full;
}

absl::StatusOr<ImageHeader> ImagePreprocessor::ReadHeader(Bytes b) {
  if (b.empty()) return absl::InvalidArgumentError("image is empty (0 bytes)");
  if (b.substr(0, 8) == "\x89PNG\r\n\x1a\n") return PngHeader(b);
  if (b.substr(0, 2) == "\xFF\xD8") return JpegHeader(b);
  if (b.substr(0, 2) == "BM") return BmpHeader(b);
  // substr throws past the end: check the length first (the fuzzer's find).
  if (b.size() >= 12 && b.substr(0, 4) == "RIFF" && b.substr(8, 4) == "WEBP") {
    return WebpHeader(b);
  }
  if (b.substr(0, 4) == Bytes("II*\0", 4) || b.substr(0, 4) == Bytes("MM\0*", 4)) {
    return TiffHeader(b);
  }
  if (b.size() >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6') {
    return PnmHeader(b);
  }
  return absl::InvalidArgumentError(
      "unsupported image format: send PNG, JPEG, BMP, WebP, TIFF or PNM bytes");
}


ImagePreprocessor::ImagePreprocessor(const InputSpec& input, int64_t max_pixels,
                                     int64_t max_decode_bytes)
    : input_(input),
      max_pixels_(max_pixels),
      max_decode_bytes_(max_decode_bytes) {
  // Python's float32 arithmetic, step for step: v / 255, then minus the
  // mean, over the std.
  normalized_.resize(static_cast<size_t>(input_.channels) * 256);
  for (int c = 0; c < input_.channels; ++c) {
    for (int v = 0; v < 256; ++v) {
      const float x = static_cast<float>(v) / 255.0f;
      normalized_[c * 256 + v] = (x - input_.mean[c]) / input_.std[c];
    }
  }
  // OpenCV logs a warning per image it cannot read; the status says it all.
  static std::once_flag quiet;
  std::call_once(quiet, [] {
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_ERROR);
  });
}

absl::StatusOr<DecodePlan> ImagePreprocessor::Plan(Bytes encoded) const {
  absl::StatusOr<ImageHeader> header = ReadHeader(encoded);
  if (!header.ok()) return header.status();
  if (header->width < 1 || header->height < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        header->format, " header says the image is ", header->width, "x",
        header->height, "; both sides must be at least 1"));
  }
  // Divided, not multiplied: a header may claim sides near 2^32.
  if (header->width > max_pixels_ / header->height) {
    return absl::InvalidArgumentError(absl::StrCat(
        "image is ", header->width, "x", header->height, ", more than the ",
        max_pixels_, " pixels allowed"));
  }
  if (header->decode_pixels > max_pixels_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the ", header->format, " image is stored in strips or tiles of ",
        header->decode_pixels, " pixels, more than the ", max_pixels_,
        " pixels allowed"));
  }
  DecodePlan plan;
  plan.header = *header;
  plan.scale = ChooseDecodeScale(*header, input_.width, input_.height);
  if (header->format == "JPEG") {  // straight into the model's colour
    // CMYK too: DecodeJpeg converts it 16 rows at a time.
    plan.channels = input_.channels == 1 ? 1 : 3;
  } else if (header->format == "WebP") {  // into BGR
    plan.channels = 3;
  } else {
    plan.channels = header->channels;
    plan.bytes_per_sample = header->bytes_per_sample;
  }
  // At most 2^32 pixels, 64 channels and 8 bytes: no overflow.
  plan.decoded_bytes = plan.scale.width * plan.scale.height * plan.channels *
                       plan.bytes_per_sample;
  // A TIFF decoder holds one strip (or tile) beside the image, of at least 4
  // channels (OpenCV reads 8-bit strips as RGBA): counted too. At most
  // max_pixels_ pixels (checked above): no overflow.
  plan.decoded_bytes += header->decode_pixels *
                        std::max(4, header->channels) * header->bytes_per_sample;
  if (plan.decoded_bytes > max_decode_bytes_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "decoding this ", header->width, "x", header->height, " ",
        header->format, " image takes ", plan.decoded_bytes, " bytes (",
        plan.scale.width, "x", plan.scale.height, ", ", plan.channels,
        " channel(s) of ", plan.bytes_per_sample * 8, " bits), more than the ",
        max_decode_bytes_, " allowed"));
  }
  return plan;
}

// Step 1 of Process: the decoded image at plan.scale, gray (1 channel) or
// colour (3 or 4), 8 or 16 bits. Colour is in RGB order for a JPEG
// (DecodeJpeg's JCS_EXT_RGB) and OpenCV's BGR order for the rest.
static absl::StatusOr<cv::Mat> DecodeAtScale(Bytes encoded,
                                             const DecodePlan& plan,
                                             bool gray) {
  const ImageHeader& header = plan.header;
  absl::StatusOr<cv::Mat> image;
  if (header.format == "JPEG") {
    image = DecodeJpeg(encoded, plan.scale.denominator, gray,
                       [](std::string_view warning) {
                         DecoderLog().Log(absl::StrCat(
                             "a JPEG decoded with a warning: ", std::string(warning)));
                       });
  } else if (header.format == "WebP") {
    image = DecodeWebp(encoded, static_cast<int>(plan.scale.width),
                       static_cast<int>(plan.scale.height));
  } else if (header.format == "PNG") {
    absl::Status whole = CheckPngComplete(encoded);
    if (!whole.ok()) return whole;
    image = DecodePng(encoded, [](std::string_view warning) {
      DecoderLog().Log(absl::StrCat("a PNG decoded with a warning: ",
                                    std::string(warning)));
    });
  } else {
    absl::Status whole = header.format == "BMP" ? CheckBmpComplete(encoded, header)
                         : header.format == "PNM" ? CheckPnmComplete(encoded, header)
                                                  : absl::OkStatus();
    if (!whole.ok()) return whole;
    image = DecodeWithOpenCv(encoded, header);
  }
  if (!image.ok()) {
    DecoderLog().Log(absl::StrCat("refused an image: ", image.status().message()));
    return image.status();
  }
  if (image->cols != plan.scale.width || image->rows != plan.scale.height) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the ", header.format, " image decodes to ", image->cols, "x",
        image->rows, " but its header says ", header.width, "x",
        header.height));
  }
  return image;
}

absl::StatusOr<PreprocessedImage> ImagePreprocessor::Process(
    Bytes encoded) const {
  absl::StatusOr<DecodePlan> plan = Plan(encoded);
  if (!plan.ok()) return plan.status();
  return Process(encoded, *plan);
}

absl::StatusOr<PreprocessedImage> ImagePreprocessor::Process(
    Bytes encoded, const DecodePlan& plan) const {
  absl::StatusOr<cv::Mat> decoded =
      DecodeAtScale(encoded, plan, input_.channels == 1);
  if (!decoded.ok()) return decoded.status();
  cv::Mat image = *std::move(decoded);

  try {
    if (image.depth() == CV_16U) {
      image.convertTo(image, CV_8U, 1.0 / 257.0);
    } else if (image.depth() != CV_8U) {
      return absl::InvalidArgumentError(
          "unsupported pixel depth: send 8-bit or 16-bit images");
    }
    if (image.channels() == 2) {  // gray and alpha: keep the gray
      cv::extractChannel(image, image, 0);
    }
    // A JPEG's colour is decoded in RGB order already; the rest give BGR.
    const bool rgb_order = plan.header.format == "JPEG";
    switch (image.channels()) {
      case 1:
        if (input_.channels == 3) cv::cvtColor(image, image, cv::COLOR_GRAY2RGB);
        break;
      case 3:
      case 4:
        if (image.channels() == 4) cv::cvtColor(image, image, cv::COLOR_BGRA2BGR);
        if (input_.channels == 1) {
          cv::cvtColor(image, image,
                       rgb_order ? cv::COLOR_RGB2GRAY : cv::COLOR_BGR2GRAY);
        } else if (!rgb_order) {
          cv::cvtColor(image, image, cv::COLOR_BGR2RGB);
        }
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            "unsupported number of channels: ", image.channels(),
            " (1 to 4 are allowed)"));
    }
  } catch (const cv::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("could not convert the image: ", e.what()));
  }

  PreprocessedImage out;
  out.original_width = static_cast<int>(plan.header.width);
  out.original_height = static_cast<int>(plan.header.height);
  const int plane = input_.width * input_.height;
  const int channels = input_.channels;
  out.chw.resize(static_cast<size_t>(plane) * channels);
  if (image.cols != input_.width || image.rows != input_.height) {
    const bool shrinking =
        image.cols >= input_.width && image.rows >= input_.height;
    // A photo: shrunk, normalized and laid out in planes in one pass.
    if (shrinking && AreaShrinkIntoPlanes(image, input_.width, input_.height,
                                          normalized_.data(), out.chw.data())) {
      return out;
    }
    try {
      cv::resize(image, image, cv::Size(input_.width, input_.height), 0, 0,
                 shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
    } catch (const cv::Exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("could not resize the image: ", e.what()));
    }
  }
  // Steps 6 and 7 in one pass over the 8-bit image: each sample through its
  // channel's table (normalized_) into its plane.
  for (int y = 0; y < input_.height; ++y) {
    const uchar* row = image.ptr<uchar>(y);
    float* to = out.chw.data() + static_cast<size_t>(y) * input_.width;
    if (channels == 1) {
      for (int x = 0; x < input_.width; ++x) to[x] = normalized_[row[x]];
      continue;
    }
    for (int x = 0; x < input_.width; ++x, row += channels) {
      for (int c = 0; c < channels; ++c) {
        to[c * plane + x] = normalized_[c * 256 + row[c]];
      }
    }
  }
  return out;
}

}  // namespace gcnserve
