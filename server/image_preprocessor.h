#ifndef GCNSERVE_SERVER_IMAGE_PREPROCESSOR_H_
#define GCNSERVE_SERVER_IMAGE_PREPROCESSOR_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "server/model_metadata.h"

namespace gcnserve {

// The header facts of an encoded image, read without decoding it.
struct ImageHeader {
  std::string format;  // "PNG", "JPEG", "BMP", "WebP", "TIFF", "PNM"
  int64_t width = 0;
  int64_t height = 0;
};

// An image ready for the model.
struct PreprocessedImage {
  std::vector<float> chw;  // channels x height x width, normalized
  int original_width = 0;
  int original_height = 0;
};

// Turns encoded image bytes into the tensor a model wants, exactly as
// model/gcnserve_model/preprocess.py does (a parity test holds them to it):
// decode with OpenCV keeping depth and channels; 16-bit to 8-bit by /257;
// drop alpha; convert to the model's colour; resize to the input size with
// INTER_AREA when neither side grows and INTER_LINEAR otherwise; scale to
// [0, 1];
// subtract the mean and divide by the std per channel.
//
// The image's size is read from its header first, and an image with more
// than `max_pixels` pixels is refused before anything is allocated for it.
// Formats: PNG, JPEG, BMP, WebP, TIFF, PNM (PBM/PGM/PPM); others are refused.
// Stateless after construction, so thread-safe.
class ImagePreprocessor {
 public:
  ImagePreprocessor(const InputSpec& input, int64_t max_pixels);

  // INVALID_ARGUMENT, with a message saying what was wrong, for empty,
  // unsupported, oversized, corrupt or truncated images.
  absl::StatusOr<PreprocessedImage> Process(std::string_view encoded) const;

  // Reads the format and size from the header; INVALID_ARGUMENT when the
  // format is not one of the supported ones or the header is cut short.
  static absl::StatusOr<ImageHeader> ReadHeader(std::string_view encoded);

 private:
  const InputSpec input_;
  const int64_t max_pixels_;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_IMAGE_PREPROCESSOR_H_
