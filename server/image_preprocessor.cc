#include "server/image_preprocessor.h"

#include <cctype>
#include <cstdlib>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"

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

absl::StatusOr<ImageHeader> PngHeader(Bytes b) {
  if (b.size() < 24 || b.substr(12, 4) != "IHDR") return Truncated("PNG");
  return ImageHeader{"PNG", Be32(b, 16), Be32(b, 20)};
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
      if (pos + 9 > b.size()) break;
      return ImageHeader{"JPEG", Be16(b, pos + 7), Be16(b, pos + 5)};
    }
    pos += 2 + Be16(b, pos + 2);
  }
  return Truncated("JPEG");
}

absl::StatusOr<ImageHeader> BmpHeader(Bytes b) {
  if (b.size() < 26) return Truncated("BMP");
  if (Le32(b, 14) == 12) return ImageHeader{"BMP", Le16(b, 18), Le16(b, 20)};
  auto height = static_cast<int32_t>(Le32(b, 22));  // negative: top-down
  return ImageHeader{"BMP", static_cast<int32_t>(Le32(b, 18)),
                     std::llabs(static_cast<long long>(height))};
}

absl::StatusOr<ImageHeader> WebpHeader(Bytes b) {
  if (b.size() < 30) return Truncated("WebP");
  Bytes chunk = b.substr(12, 4);
  if (chunk == "VP8 ") {
    return ImageHeader{"WebP", Le16(b, 26) & 0x3FFF, Le16(b, 28) & 0x3FFF};
  }
  if (chunk == "VP8L") {
    uint32_t bits = Le32(b, 21);
    return ImageHeader{"WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1};
  }
  if (chunk == "VP8X") {
    return ImageHeader{"WebP", Le24(b, 24) + 1, Le24(b, 27) + 1};
  }
  return Truncated("WebP");
}

absl::StatusOr<ImageHeader> TiffHeader(Bytes b) {
  bool le = b[0] == 'I';
  auto u16 = [&](size_t i) { return le ? Le16(b, i) : Be16(b, i); };
  auto u32 = [&](size_t i) { return le ? Le32(b, i) : Be32(b, i); };
  if (b.size() < 8) return Truncated("TIFF");
  size_t ifd = u32(4);
  if (ifd + 2 > b.size()) return Truncated("TIFF");
  uint32_t entries = u16(ifd);
  ImageHeader header{"TIFF", -1, -1};
  for (uint32_t i = 0; i < entries; ++i) {
    size_t e = ifd + 2 + 12 * i;
    if (e + 12 > b.size()) return Truncated("TIFF");
    uint32_t tag = u16(e), type = u16(e + 2);
    int64_t value = type == 3 ? u16(e + 8) : u32(e + 8);  // SHORT or LONG
    if (tag == 256) header.width = value;
    if (tag == 257) header.height = value;
  }
  if (header.width < 0 || header.height < 0) return Truncated("TIFF");
  return header;
}

absl::StatusOr<ImageHeader> PnmHeader(Bytes b) {
  // "P5 <width> <height> ...", tokens separated by whitespace and comments.
  int64_t numbers[2];
  size_t pos = 2;
  for (int64_t& number : numbers) {
    while (pos < b.size() && (std::isspace(U8(b, pos)) || b[pos] == '#')) {
      if (b[pos] == '#') {
        while (pos < b.size() && b[pos] != '\n') ++pos;
      } else {
        ++pos;
      }
    }
    size_t start = pos;
    number = 0;
    while (pos < b.size() && std::isdigit(U8(b, pos)) && pos - start < 9) {
      number = number * 10 + (b[pos++] - '0');
    }
    if (pos == start) return Truncated("PNM");
  }
  return ImageHeader{"PNM", numbers[0], numbers[1]};
}

}  // namespace

absl::StatusOr<ImageHeader> ImagePreprocessor::ReadHeader(Bytes b) {
  if (b.empty()) return absl::InvalidArgumentError("image is empty (0 bytes)");
  if (b.substr(0, 8) == "\x89PNG\r\n\x1a\n") return PngHeader(b);
  if (b.substr(0, 2) == "\xFF\xD8") return JpegHeader(b);
  if (b.substr(0, 2) == "BM") return BmpHeader(b);
  if (b.substr(0, 4) == "RIFF" && b.substr(8, 4) == "WEBP") return WebpHeader(b);
  if (b.substr(0, 4) == Bytes("II*\0", 4) || b.substr(0, 4) == Bytes("MM\0*", 4)) {
    return TiffHeader(b);
  }
  if (b.size() >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6') {
    return PnmHeader(b);
  }
  return absl::InvalidArgumentError(
      "unsupported image format: send PNG, JPEG, BMP, WebP, TIFF or PNM bytes");
}

ImagePreprocessor::ImagePreprocessor(const InputSpec& input, int64_t max_pixels)
    : input_(input), max_pixels_(max_pixels) {}

absl::StatusOr<PreprocessedImage> ImagePreprocessor::Process(
    Bytes encoded) const {
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

  cv::Mat image;
  try {
    cv::Mat bytes(1, static_cast<int>(encoded.size()), CV_8U,
                  const_cast<char*>(encoded.data()));
    image = cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "could not decode the ", header->format, " image: ", e.what()));
  }
  if (image.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "could not decode the ", header->format,
        " image: the data is corrupt or truncated"));
  }
  if (image.cols != header->width || image.rows != header->height) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the ", header->format, " image decodes to ", image.cols, "x",
        image.rows, " but its header says ", header->width, "x",
        header->height));
  }

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
    switch (image.channels()) {
      case 1:
        if (input_.channels == 3) cv::cvtColor(image, image, cv::COLOR_GRAY2RGB);
        break;
      case 3:
      case 4:
        if (image.channels() == 4) cv::cvtColor(image, image, cv::COLOR_BGRA2BGR);
        cv::cvtColor(image, image,
                     input_.channels == 1 ? cv::COLOR_BGR2GRAY : cv::COLOR_BGR2RGB);
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            "unsupported number of channels: ", image.channels(),
            " (1 to 4 are allowed)"));
    }
    if (image.cols != input_.width || image.rows != input_.height) {
      bool shrinking = image.cols >= input_.width && image.rows >= input_.height;
      cv::resize(image, image, cv::Size(input_.width, input_.height), 0, 0,
                 shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
    }
    image.convertTo(image, CV_32F, 1.0 / 255.0);
  } catch (const cv::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("could not convert the image: ", e.what()));
  }

  PreprocessedImage out;
  out.original_width = static_cast<int>(header->width);
  out.original_height = static_cast<int>(header->height);
  const int plane = input_.width * input_.height;
  const int channels = input_.channels;
  out.chw.resize(static_cast<size_t>(plane) * channels);
  for (int y = 0; y < input_.height; ++y) {
    const float* row = image.ptr<float>(y);
    for (int x = 0; x < input_.width; ++x) {
      for (int c = 0; c < channels; ++c) {
        float v = row[x * channels + c];
        out.chw[c * plane + y * input_.width + x] =
            (v - input_.mean[c]) / input_.std[c];
      }
    }
  }
  return out;
}

}  // namespace gcnserve
