// libFuzzer target over what a client controls before any model runs: the
// request's own fields (ReadResponseOptions) and the image bytes
// (ImagePreprocessor::Process, OpenCV's decoders under it).
//
// Input: an 8-byte header, then the encoded image.
//   bytes 0-3  top_k (int32, little-endian)
//   byte  4    graph (any value: the valid ones and beyond)
//   byte  5    max_edges_per_node (int8)
//   byte  6    request_id length (its bytes are the image's first ones)
//   byte  7    the model's input: 0 gray 28x28, 1 RGB 32x32, 2 gray 64x64
//              with the report's mean and std
// tests/fuzz/make_seeds.py writes the seeds: every supported format.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "gcnserve/v1/gcnserve.pb.h"
#include "server/decode/image_preprocessor.h"
#include "server/pipeline/response_builder.h"

namespace {

constexpr size_t kHeaderBytes = 8;
// Small enough that one input decodes in milliseconds under ASan.
constexpr int64_t kMaxPixels = 4'000'000;

gcnserve::InputSpec Input(uint8_t which) {
  gcnserve::InputSpec input;
  switch (which % 3) {
    case 0:
      input.width = input.height = 28;
      input.channels = 1;
      input.color = "gray";
      input.mean = {0.0f};
      input.std = {1.0f};
      break;
    case 1:
      input.width = input.height = 32;
      input.channels = 3;
      input.color = "rgb";
      input.mean = {0.485f, 0.456f, 0.406f};
      input.std = {0.229f, 0.224f, 0.225f};
      break;
    default:
      input.width = input.height = 64;
      input.channels = 1;
      input.color = "gray";
      input.mean = {0.2860f};
      input.std = {0.3530f};
      break;
  }
  return input;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kHeaderBytes) return 0;
  int32_t top_k;
  std::memcpy(&top_k, data, sizeof top_k);
  gcnserve::v1::ClassifyRequest request;
  request.set_top_k(top_k);
  request.set_graph(static_cast<gcnserve::v1::GraphDetail>(data[4]));
  request.set_max_edges_per_node(static_cast<int8_t>(data[5]));
  const std::string_view image(reinterpret_cast<const char*>(data) + kHeaderBytes,
                               size - kHeaderBytes);
  request.set_request_id(std::string(image.substr(0, data[6])));
  gcnserve::ResponseOptions options;
  (void)gcnserve::ReadResponseOptions(request, options);

  static const gcnserve::ImagePreprocessor* preprocessors[3] = {
      new gcnserve::ImagePreprocessor(Input(0), kMaxPixels),
      new gcnserve::ImagePreprocessor(Input(1), kMaxPixels),
      new gcnserve::ImagePreprocessor(Input(2), kMaxPixels)};
  const gcnserve::ImagePreprocessor& preprocessor = *preprocessors[data[7] % 3];
  absl::StatusOr<gcnserve::PreprocessedImage> processed =
      preprocessor.Process(image);
  if (processed.ok()) {
    const gcnserve::InputSpec input = Input(data[7]);
    // What the model gets is exactly its input's shape.
    if (processed->chw.size() !=
        static_cast<size_t>(input.channels * input.width * input.height)) {
      __builtin_trap();
    }
  }
  return 0;
}
