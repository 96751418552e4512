#include "server/decode/webp_decoder.h"

#include <webp/decode.h>

#include "absl/strings/str_cat.h"

namespace gcnserve {
namespace {

absl::Status Refused(VP8StatusCode code) {
  switch (code) {
    case VP8_STATUS_NOT_ENOUGH_DATA:
      return absl::InvalidArgumentError(
          "WebP data ends before the image does (truncated)");
    case VP8_STATUS_UNSUPPORTED_FEATURE:
      return absl::InvalidArgumentError(
          "unsupported WebP feature (animations are not accepted)");
    case VP8_STATUS_OUT_OF_MEMORY:
      return absl::ResourceExhaustedError("out of memory decoding the WebP image");
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "could not decode the WebP image: the data is corrupt (libwebp "
          "status ", static_cast<int>(code), ")"));
  }
}

}  // namespace

absl::StatusOr<cv::Mat> DecodeWebp(std::string_view encoded, int width,
                                   int height) {
  const auto* data = reinterpret_cast<const uint8_t*>(encoded.data());
  WebPDecoderConfig config;
  if (!WebPInitDecoderConfig(&config)) {
    return absl::InternalError("libwebp's version does not match its headers");
  }
  VP8StatusCode status = WebPGetFeatures(data, encoded.size(), &config.input);
  if (status != VP8_STATUS_OK) return Refused(status);
  if (config.input.has_animation) return Refused(VP8_STATUS_UNSUPPORTED_FEATURE);
  if (width != config.input.width || height != config.input.height) {
    config.options.use_scaling = 1;
    config.options.scaled_width = width;
    config.options.scaled_height = height;
  }
  cv::Mat image(height, width, CV_8UC3);
  config.output.colorspace = MODE_BGR;
  config.output.is_external_memory = 1;
  config.output.u.RGBA.rgba = image.data;
  config.output.u.RGBA.stride = static_cast<int>(image.step);
  config.output.u.RGBA.size = image.step * image.rows;
  status = WebPDecode(data, encoded.size(), &config);
  WebPFreeDecBuffer(&config.output);  // frees nothing of ours; good hygiene
  if (status != VP8_STATUS_OK) return Refused(status);
  return image;
}

}  // namespace gcnserve
