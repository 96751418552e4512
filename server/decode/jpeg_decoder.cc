#include "server/decode/jpeg_decoder.h"

#include <algorithm>
#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE
#include <exception>

#include <jerror.h>
#include <jpeglib.h>

#include "absl/strings/str_cat.h"

namespace gcnserve {
namespace {

// libjpeg reports through these callbacks; an error (or a warning that
// means missing data) jumps back to Decode's setjmp.
struct ErrorManager {
  jpeg_error_mgr pub;  // first: libjpeg casts cinfo->err to this
  std::jmp_buf jump;
  const std::function<void(std::string_view)>* warn = nullptr;
  enum Phase { kHeader, kScans, kScanlines } phase = kHeader;
  bool truncated = false;
  char message[JMSG_LENGTH_MAX] = {};
};

ErrorManager& Manager(j_common_ptr cinfo) {
  return *reinterpret_cast<ErrorManager*>(cinfo->err);
}

[[noreturn]] void OnError(j_common_ptr cinfo) {
  ErrorManager& err = Manager(cinfo);
  cinfo->err->format_message(cinfo, err.message);
  std::longjmp(err.jump, 1);
}

void OnMessage(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages: never wanted
  ErrorManager& err = Manager(cinfo);
  const int code = cinfo->err->msg_code;
  // HIT_MARKER: the entropy decoder needed bits the data does not have.
  // JPEG_EOF: the data ended. In the header, or while the scans of a
  // progressive or multi-scan file are read in, that means data is missing;
  // while the scanlines of a one-scan file are read it may only be the
  // decoder reading ahead into a missing end marker, so HIT_MARKER decides.
  const bool missing =
      code == JWRN_HIT_MARKER ||
      (code == JWRN_JPEG_EOF && err.phase != ErrorManager::kScanlines);
  cinfo->err->format_message(cinfo, err.message);
  if (missing) {
    err.truncated = true;
    std::longjmp(err.jump, 1);
  }
  ++cinfo->err->num_warnings;
  if (err.warn && *err.warn) (*err.warn)(err.message);
}

// The arithmetic of OpenCV 4.6's icvCvt_CMYK2BGR_8u_C4C3R and
// icvCvt_CMYK2Gray_8u_C4C1R (modules/imgcodecs/src/utils.cpp), which its
// JpegDecoder applies to libjpeg's JCS_CMYK rows, Adobe's inverted CMYK
// included as it comes; written in RGB order here.
void CmykToRgb(const JSAMPLE* cmyk, int width, uchar* rgb) {
  for (int i = 0; i < width; ++i, cmyk += 4, rgb += 3) {
    const int k = cmyk[3];
    rgb[0] = static_cast<uchar>(k - ((255 - cmyk[0]) * k >> 8));
    rgb[1] = static_cast<uchar>(k - ((255 - cmyk[1]) * k >> 8));
    rgb[2] = static_cast<uchar>(k - ((255 - cmyk[2]) * k >> 8));
  }
}

void CmykToGray(const JSAMPLE* cmyk, int width, uchar* gray) {
  constexpr int kShift = 14;
  constexpr int kRed = static_cast<int>(0.299 * (1 << kShift) + 0.5);
  constexpr int kGreen = static_cast<int>(0.587 * (1 << kShift) + 0.5);
  constexpr int kBlue = (1 << kShift) - kRed - kGreen;
  for (int i = 0; i < width; ++i, cmyk += 4) {
    const int k = cmyk[3];
    const int r = k - ((255 - cmyk[0]) * k >> 8);
    const int g = k - ((255 - cmyk[1]) * k >> 8);
    const int b = k - ((255 - cmyk[2]) * k >> 8);
    gray[i] = static_cast<uchar>(
        (b * kBlue + g * kGreen + r * kRed + (1 << (kShift - 1))) >> kShift);
  }
}

// Everything between setjmp and a longjmp back to it is C (libjpeg) or
// trivially destructible: no C++ destructor is skipped.
bool Decode(jpeg_decompress_struct* cinfo, ErrorManager* err,
            std::string_view encoded, int denominator, bool gray,
            cv::Mat* out) {
  if (setjmp(err->jump)) return false;
  jpeg_mem_src(cinfo, reinterpret_cast<const unsigned char*>(encoded.data()),
               static_cast<unsigned long>(encoded.size()));
  jpeg_read_header(cinfo, TRUE);
  // CMYK and YCCK (4 components) come out of libjpeg as CMYK, a few rows at
  // a time, and are converted as OpenCV does; the rest straight into place.
  const bool cmyk = cinfo->num_components == 4;
  cinfo->scale_num = 1;
  cinfo->scale_denom = static_cast<unsigned int>(denominator);
  // libjpeg's defaults otherwise, as OpenCV has them (the tests hold the
  // pixels equal): the slow integer IDCT (JDCT_IFAST would change pixels,
  // and only the full-size 8x8 IDCT has it: at 1/4 and 1/8 every IDCT is a
  // scaled one) and fancy upsampling (idle at 1/2 to 1/8 of a 4:2:0 file,
  // the usual sampling, whose chroma libjpeg-turbo scales up in its IDCT
  // instead). JCS_EXT_RGB: the model's order, where OpenCV asks for
  // JCS_EXT_BGR; the same samples.
  cinfo->out_color_space = cmyk ? JCS_CMYK : gray ? JCS_GRAYSCALE : JCS_EXT_RGB;
  err->phase = ErrorManager::kScans;
  jpeg_start_decompress(cinfo);
  const int width = static_cast<int>(cinfo->output_width);
  out->create(static_cast<int>(cinfo->output_height), width,
              gray ? CV_8UC1 : CV_8UC3);
  constexpr JDIMENSION kRows = 16;
  JSAMPARRAY cmyk_rows =
      cmyk ? (*cinfo->mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(cinfo),
                                         JPOOL_IMAGE, cinfo->output_width * 4,
                                         kRows)
           : nullptr;
  err->phase = ErrorManager::kScanlines;
  JSAMPROW rows[kRows];
  while (cinfo->output_scanline < cinfo->output_height) {
    JDIMENSION first = cinfo->output_scanline;
    JDIMENSION count = std::min<JDIMENSION>(
        kRows, cinfo->output_height - cinfo->output_scanline);
    for (JDIMENSION i = 0; i < count; ++i) {
      rows[i] = cmyk ? cmyk_rows[i] : out->ptr(first + i);
    }
    count = jpeg_read_scanlines(cinfo, rows, count);
    for (JDIMENSION i = 0; cmyk && i < count; ++i) {
      uchar* row = out->ptr(first + i);
      if (gray) {
        CmykToGray(cmyk_rows[i], width, row);
      } else {
        CmykToRgb(cmyk_rows[i], width, row);
      }
    }
  }
  // Every pixel is decoded: what follows the last scan (an end marker, or
  // bytes after it) cannot change them, so it is not read.
  return true;
}

}  // namespace

absl::StatusOr<cv::Mat> DecodeJpeg(
    std::string_view encoded, int denominator, bool gray,
    const std::function<void(std::string_view)>& warn) {
  if (denominator != 1 && denominator != 2 && denominator != 4 &&
      denominator != 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        "JPEG scale 1/", denominator, " is not one of 1, 1/2, 1/4, 1/8"));
  }
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = OnError;
  err.pub.emit_message = OnMessage;
  err.warn = &warn;
  jpeg_create_decompress(&cinfo);
  cv::Mat image;
  bool ok = false;
  try {
    ok = Decode(&cinfo, &err, encoded, denominator, gray, &image);
  } catch (const std::exception& e) {  // the Mat's allocation
    std::snprintf(err.message, sizeof(err.message), "%s", e.what());
  }
  jpeg_destroy_decompress(&cinfo);
  if (err.truncated) {
    const char* where = err.phase == ErrorManager::kHeader ? "inside its header"
                        : err.phase == ErrorManager::kScans
                            ? "before its last scan"
                            : "before the last scanline";
    return absl::InvalidArgumentError(absl::StrCat(
        "JPEG data ends ", where, " (truncated; libjpeg: ", err.message, ")"));
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("could not decode the JPEG image: ", err.message));
  }
  return image;
}

}  // namespace gcnserve
