#ifndef GCNSERVE_SERVER_DECODE_PNG_DECODER_H_
#define GCNSERVE_SERVER_DECODE_PNG_DECODER_H_

#include <functional>
#include <string_view>

#include <opencv2/core.hpp>

#include "absl/status/statusor.h"

namespace gcnserve {

// Decodes a PNG with libpng, whole. The pixels are exactly those of OpenCV
// 4.6's cv::imdecode(IMREAD_UNCHANGED), which is what
// model/gcnserve_model/preprocess.py uses: the same library with the same
// transforms (a test holds them to it), so
// - gray (1, 2, 4, 8 bits) is 8-bit 1 channel, a tRNS dropped;
// - RGB, and palette, are 3 channels in BGR order, 4 (BGRA) with a tRNS
//   chunk before the image data;
// - gray and alpha, and RGBA, are 4 channels (BGRA);
// - 16 bits stay 16 bits (CV_16U); interlaced images come out whole.
//
// libpng's messages never reach stderr: a warning (an ancillary chunk that
// fails its CRC, a bad colour profile: the image still decodes) is given to
// `warn` when set; an error (compressed data that does not inflate, data
// that ends before the image does) is INVALID_ARGUMENT with libpng's
// message. Thread-safe: no shared state.
absl::StatusOr<cv::Mat> DecodePng(
    std::string_view encoded,
    const std::function<void(std::string_view)>& warn = nullptr);

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_DECODE_PNG_DECODER_H_
