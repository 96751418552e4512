#ifndef GCNSERVE_SERVER_DECODE_WEBP_DECODER_H_
#define GCNSERVE_SERVER_DECODE_WEBP_DECODER_H_

#include <string_view>

#include <opencv2/core.hpp>

#include "absl/status/statusor.h"

namespace gcnserve {

// Decodes a still WebP with libwebp into 8-bit BGR (alpha dropped, colour
// not premultiplied), `width` x `height`: its own size, or any other, which
// libwebp's rescaler produces while decoding, row by row, so the full-size
// image never exists. The Python reference (model/gcnserve_model/webp.py)
// calls the same library the same way. Data that ends before the image does
// is INVALID_ARGUMENT saying so; so is corrupt or unsupported data (an
// animation). Thread-safe: no shared state.
absl::StatusOr<cv::Mat> DecodeWebp(std::string_view encoded, int width,
                                   int height);

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_DECODE_WEBP_DECODER_H_
