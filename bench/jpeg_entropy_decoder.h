#ifndef GCNSERVE_BENCH_JPEG_ENTROPY_DECODER_H_
#define GCNSERVE_BENCH_JPEG_ENTROPY_DECODER_H_

#include <string_view>

#include "absl/status/status.h"

namespace gcnserve {

// The floor under any decoder of a JPEG file: libjpeg's entropy decoding
// alone (jpeg_read_coefficients: Huffman or arithmetic decoding into DCT
// coefficients), with no inverse DCT, no colour output and no resize.
// INVALID_ARGUMENT, with libjpeg's message, for a file it cannot read.
// Thread-safe (each call has its own decoder).
absl::Status EntropyDecodeJpeg(std::string_view jpeg);

}  // namespace gcnserve

#endif  // GCNSERVE_BENCH_JPEG_ENTROPY_DECODER_H_
