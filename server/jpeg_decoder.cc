#include "server/jpeg_decoder.h"

#include <algorithm>
#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE

#include <jerror.h>
#include <jpeglib.h>

#include <opencv2/imgcodecs.hpp>

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

// Everything between setjmp and a longjmp back to it is C (libjpeg) or
// trivially destructible: no C++ destructor is skipped.
bool Decode(jpeg_decompress_struct* cinfo, ErrorManager* err,
            std::string_view encoded, int denominator, bool gray,
            cv::Mat* out, bool* cmyk) {
  if (setjmp(err->jump)) return false;
  jpeg_mem_src(cinfo, reinterpret_cast<const unsigned char*>(encoded.data()),
               static_cast<unsigned long>(encoded.size()));
  jpeg_read_header(cinfo, TRUE);
  if (cinfo->num_components == 4) {
    *cmyk = true;
    return true;
  }
  cinfo->scale_num = 1;
  cinfo->scale_denom = static_cast<unsigned int>(denominator);
  cinfo->out_color_space = gray ? JCS_GRAYSCALE : JCS_EXT_BGR;
  err->phase = ErrorManager::kScans;
  jpeg_start_decompress(cinfo);
  out->create(static_cast<int>(cinfo->output_height),
              static_cast<int>(cinfo->output_width), gray ? CV_8UC1 : CV_8UC3);
  err->phase = ErrorManager::kScanlines;
  JSAMPROW rows[16];
  while (cinfo->output_scanline < cinfo->output_height) {
    JDIMENSION first = cinfo->output_scanline;
    JDIMENSION count = std::min<JDIMENSION>(
        16, cinfo->output_height - cinfo->output_scanline);
    for (JDIMENSION i = 0; i < count; ++i) rows[i] = out->ptr(first + i);
    jpeg_read_scanlines(cinfo, rows, count);
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
  bool cmyk = false;
  bool ok = Decode(&cinfo, &err, encoded, denominator, gray, &image, &cmyk);
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
  if (cmyk) {
    static constexpr int kGray[] = {0, cv::IMREAD_REDUCED_GRAYSCALE_2, 0,
                                    cv::IMREAD_REDUCED_GRAYSCALE_4, 0, 0, 0,
                                    0, cv::IMREAD_REDUCED_GRAYSCALE_8};
    static constexpr int kColour[] = {0, cv::IMREAD_REDUCED_COLOR_2, 0,
                                      cv::IMREAD_REDUCED_COLOR_4, 0, 0, 0, 0,
                                      cv::IMREAD_REDUCED_COLOR_8};
    int flags = denominator == 1 ? (gray ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR)
                                 : (gray ? kGray : kColour)[denominator];
    try {
      cv::Mat bytes(1, static_cast<int>(encoded.size()), CV_8U,
                    const_cast<char*>(encoded.data()));
      image = cv::imdecode(bytes, flags | cv::IMREAD_IGNORE_ORIENTATION);
    } catch (const cv::Exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("could not decode the CMYK JPEG image: ", e.what()));
    }
    if (image.empty()) {
      return absl::InvalidArgumentError(
          "could not decode the CMYK JPEG image: corrupt or truncated");
    }
  }
  return image;
}

}  // namespace gcnserve
