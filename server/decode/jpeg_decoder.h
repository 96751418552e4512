#ifndef GCNSERVE_SERVER_DECODE_JPEG_DECODER_H_
#define GCNSERVE_SERVER_DECODE_JPEG_DECODER_H_

#include <functional>
#include <string_view>

#include <opencv2/core.hpp>

#include "absl/status/statusor.h"

namespace gcnserve {

// Decodes a JPEG with libjpeg-turbo at 1/`denominator` of its size (1, 2,
// 4 or 8: libjpeg's DCT scaling, ceil(width / denominator) wide), straight
// into 8-bit gray (`gray`: the luma plane, no chroma is ever built) or RGB
// (libjpeg's JCS_EXT_RGB: in the model's order, no swap after). The pixels
// are exactly those of OpenCV's cv::imdecode with
// IMREAD_REDUCED_{GRAYSCALE,COLOR}_<denominator> | IMREAD_IGNORE_ORIENTATION
// (the same library with the same settings; a test holds them to it), which
// is what model/gcnserve_model/preprocess.py uses, in RGB order where OpenCV
// gives BGR. CMYK and YCCK JPEGs (4 components) are read from libjpeg as
// CMYK, 16 rows at a time, and converted as OpenCV 4.6 does
// (k - (255 - c) * k / 256 per channel, no Adobe inversion; gray by its
// BT.601 weights): the same pixels again.
//
// Strict where OpenCV is not, CMYK included: data that ends before the last
// scanline (or, for a progressive or multi-scan JPEG, before its last scan)
// is INVALID_ARGUMENT, found at the first missing byte rather than after
// decoding the rest as gray. Warnings that leave every pixel decoded
// (extraneous bytes before a marker, a missing end-of-image marker) pass,
// their text given to `warn` when set. Any other libjpeg error is
// INVALID_ARGUMENT with libjpeg's message. Thread-safe: no shared state.
absl::StatusOr<cv::Mat> DecodeJpeg(
    std::string_view encoded, int denominator, bool gray,
    const std::function<void(std::string_view)>& warn = nullptr);

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_DECODE_JPEG_DECODER_H_
