#ifndef GCNSERVE_SERVER_DECODE_IMAGE_PREPROCESSOR_H_
#define GCNSERVE_SERVER_DECODE_IMAGE_PREPROCESSOR_H_

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "server/runner/model_metadata.h"

namespace gcnserve {

// The header facts of an encoded image, read without decoding it.
struct ImageHeader {
  std::string format;  // "PNG", "JPEG", "BMP", "WebP", "TIFF", "PNM"
  int64_t width = 0;
  int64_t height = 0;
  // Samples per pixel and bytes per sample as the decoder gives them at full
  // size (a PNG's from its header and whether a tRNS chunk precedes its
  // data); an upper bound where the header alone cannot tell.
  int channels = 1;
  int bytes_per_sample = 1;
  // Pixels the decoder allocates at once where that can be more than width x
  // height: a TIFF's strip (width x RowsPerStrip) or tile. 0 when none.
  int64_t decode_pixels = 0;
};

// The size an image is decoded at: `width` x `height`, 1/`denominator` of
// its own size for a JPEG (libjpeg's DCT scaling).
struct DecodeScale {
  int64_t width = 0;
  int64_t height = 0;
  int denominator = 1;  // 1, 2, 4 or 8; 1 for every format but JPEG
};

// The smallest decode of an image with `header` that still covers an
// input_width x input_height model input on both sides:
// - JPEG: the largest of 1/8, 1/4, 1/2 that leaves both sides at least the
//   input's (libjpeg rounds up: ceil(width / denominator)), else full size;
// - WebP: the input size itself when neither side grows (libwebp's
//   rescaler), else full size;
// - PNG, BMP, TIFF, PNM: full size (they cannot decode smaller).
// model/gcnserve_model/preprocess.py follows the same rule.
DecodeScale ChooseDecodeScale(const ImageHeader& header, int input_width,
                              int input_height);

// An image ready for the model.
struct PreprocessedImage {
  std::vector<float> chw;  // channels x height x width, normalized
  int original_width = 0;
  int original_height = 0;
};

// What decoding one image will take, known from its header alone.
struct DecodePlan {
  ImageHeader header;
  DecodeScale scale;
  int channels = 1;          // as decoded at `scale`
  int bytes_per_sample = 1;  // as decoded
  // width x height x channels x bytes per sample at `scale`: the decode
  // budget of the image (ServerOptions::max_decode_bytes and
  // max_decode_bytes_in_flight).
  int64_t decoded_bytes = 0;
};

// Turns encoded image bytes into the tensor a model wants, exactly as
// model/gcnserve_model/preprocess.py does (a parity test holds them to it):
// 1. Decode at the scale ChooseDecodeScale picks, straight into the model's
//    colour where the decoder can: a JPEG with libjpeg-turbo into gray
//    (JCS_GRAYSCALE: its luma, no chroma built) or RGB (JCS_EXT_RGB: the
//    model's order, no swap after), pixel for pixel what
//    OpenCV's IMREAD_REDUCED_{GRAYSCALE,COLOR}_N | IMREAD_IGNORE_ORIENTATION
//    gives; a WebP with libwebp, rescaled while decoding, into BGR; a PNG
//    with libpng, keeping depth and channels as OpenCV's IMREAD_UNCHANGED
//    does (DecodePng, its warnings kept off stderr); BMP, TIFF and PNM with
//    OpenCV, keeping depth and channels.
// 2. 16-bit to 8-bit by /257; drop alpha; convert to the model's colour.
// 3. Resize to the input size with INTER_AREA when neither side grows and
//    INTER_LINEAR otherwise, on the 8-bit image; then, in one pass into the
//    planes, scale to [0, 1], subtract the mean and divide by the std per
//    channel (a table of the 256 values per channel, float32 as in Python).
//
// Strict: data that ends before the pixels do (a truncated JPEG, PNG, WebP,
// BMP or PNM, or a header that claims more than the data holds) is refused
// with the cause named, and a PNG chunk that fails its CRC too; warnings that
// leave every pixel decoded (bytes after a JPEG's end, say) still pass.
// Decoder messages go to a rate-limited log, never one line per request.
//
// The image's size is read from its header first, and an image with more
// than `max_pixels` pixels, or whose decode would take more than
// `max_decode_bytes` (DecodePlan::decoded_bytes), is refused before anything
// is allocated for it.
// Formats: PNG, JPEG, BMP, WebP, TIFF, PNM (PBM/PGM/PPM); others are refused.
// Stateless after construction, so thread-safe.
class ImagePreprocessor {
 public:
  // `input` as ModelMetadata::Parse checks it: one mean and std per channel.
  ImagePreprocessor(
      const InputSpec& input, int64_t max_pixels,
      int64_t max_decode_bytes = std::numeric_limits<int64_t>::max());

  // INVALID_ARGUMENT, with a message saying what was wrong, for empty,
  // unsupported, oversized, corrupt or truncated images.
  absl::StatusOr<PreprocessedImage> Process(std::string_view encoded) const;
  // The same with `plan`, which Plan() made of these very bytes.
  absl::StatusOr<PreprocessedImage> Process(std::string_view encoded,
                                            const DecodePlan& plan) const;

  // Reads the header and plans the decode without decoding: INVALID_ARGUMENT
  // for what Process would refuse from the header alone (format, size,
  // pixel and decode-byte limits). Cheap: for admission control.
  absl::StatusOr<DecodePlan> Plan(std::string_view encoded) const;

  // Reads the format and size from the header; INVALID_ARGUMENT when the
  // format is not one of the supported ones or the header is cut short.
  static absl::StatusOr<ImageHeader> ReadHeader(std::string_view encoded);

 private:
  const InputSpec input_;
  const int64_t max_pixels_;
  const int64_t max_decode_bytes_;
  // input_.channels x 256: what each 8-bit sample v of channel c becomes,
  // (v / 255 - mean[c]) / std[c] in float32 as preprocess.py computes it.
  std::vector<float> normalized_;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_DECODE_IMAGE_PREPROCESSOR_H_
