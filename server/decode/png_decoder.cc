#include "server/decode/png_decoder.h"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <exception>
#include <vector>

#include "absl/strings/str_cat.h"

namespace gcnserve {
namespace {

// What libpng's callbacks see: the input, how far it is read, and the
// error message that a longjmp back to Decode's setjmp leaves behind.
struct Reader {
  std::string_view data;
  size_t pos = 0;
  const std::function<void(std::string_view)>* warn = nullptr;
  char message[256] = {};
};

Reader& ReaderOf(png_structp png) {
  return *static_cast<Reader*>(png_get_error_ptr(png));
}

[[noreturn]] void OnError(png_structp png, png_const_charp message) {
  Reader& reader = ReaderOf(png);
  std::snprintf(reader.message, sizeof(reader.message), "%s", message);
  png_longjmp(png, 1);
}

void OnWarning(png_structp png, png_const_charp message) {
  Reader& reader = ReaderOf(png);
  if (reader.warn && *reader.warn) (*reader.warn)(message);
}

void OnRead(png_structp png, png_bytep out, size_t size) {
  Reader& reader = *static_cast<Reader*>(png_get_io_ptr(png));
  if (size > reader.data.size() - reader.pos) {
    png_error(png, "PNG data ends before the image does");
  }
  std::memcpy(out, reader.data.data() + reader.pos, size);
  reader.pos += size;
}

// OpenCV 4.6's PngDecoder::readHeader: the type of the Mat it decodes into
// with IMREAD_UNCHANGED.
int OpenCvType(png_structp png, png_infop info, int bit_depth,
               int colour_type) {
  int channels = 1;
  switch (colour_type) {
    case PNG_COLOR_TYPE_RGB:
    case PNG_COLOR_TYPE_PALETTE: {
      png_bytep trans = nullptr;
      int num_trans = 0;
      png_color_16p trans_values = nullptr;
      png_get_tRNS(png, info, &trans, &num_trans, &trans_values);
      channels = num_trans > 0 ? 4 : 3;
      break;
    }
    case PNG_COLOR_TYPE_GRAY_ALPHA:
    case PNG_COLOR_TYPE_RGB_ALPHA:
      channels = 4;
      break;
    default:
      channels = 1;
  }
  return CV_MAKETYPE(bit_depth == 16 ? CV_16U : CV_8U, channels);
}

// Everything between setjmp and a longjmp back to it is C (libpng) or
// trivially destructible; the Mat and the row pointers live in the caller.
bool Decode(png_structp png, png_infop info, png_infop end, cv::Mat* out,
            std::vector<png_bytep>* rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  png_uint_32 width = 0, height = 0;
  int bit_depth = 0, colour_type = 0;
  png_get_IHDR(png, info, &width, &height, &bit_depth, &colour_type, nullptr,
               nullptr, nullptr);
  out->create(static_cast<int>(height), static_cast<int>(width),
              OpenCvType(png, info, bit_depth, colour_type));

  // OpenCV 4.6's PngDecoder::readData, call for call, for a Mat of the
  // type above (so never png_set_strip_16).
  const bool colour = out->channels() > 1;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  png_set_swap(png);  // 16-bit samples to the host's order
#endif
  if (out->channels() < 4) {
    png_set_strip_alpha(png);
  } else {
    png_set_tRNS_to_alpha(png);
  }
  if (colour_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if ((colour_type & PNG_COLOR_MASK_COLOR) == 0 && bit_depth < 8) {
    png_set_expand_gray_1_2_4_to_8(png);
  }
  if ((colour_type & PNG_COLOR_MASK_COLOR) && colour) {
    png_set_bgr(png);
  } else if (colour) {
    png_set_gray_to_rgb(png);
  } else {
    png_set_rgb_to_gray(png, 1, 0.299, 0.587);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);

  rows->resize(height);
  for (png_uint_32 y = 0; y < height; ++y) (*rows)[y] = out->ptr(static_cast<int>(y));
  png_read_image(png, rows->data());
  png_read_end(png, end);
  return true;
}

}  // namespace

absl::StatusOr<cv::Mat> DecodePng(
    std::string_view encoded,
    const std::function<void(std::string_view)>& warn) {
  Reader reader;
  reader.data = encoded;
  reader.warn = &warn;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader,
                                           OnError, OnWarning);
  if (png == nullptr) {
    return absl::ResourceExhaustedError("libpng could not start a decoder");
  }
  png_infop info = png_create_info_struct(png);
  png_infop end = png_create_info_struct(png);
  cv::Mat image;
  std::vector<png_bytep> rows;
  bool ok = false;
  if (info != nullptr && end != nullptr) {
    png_set_read_fn(png, &reader, OnRead);
    try {
      ok = Decode(png, info, end, &image, &rows);
    } catch (const std::exception& e) {  // the Mat's allocation
      std::snprintf(reader.message, sizeof(reader.message), "%s", e.what());
    }
  } else {
    std::snprintf(reader.message, sizeof(reader.message), "out of memory");
  }
  png_destroy_read_struct(&png, &info, &end);
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("could not decode the PNG image: ", reader.message));
  }
  return image;
}

}  // namespace gcnserve
