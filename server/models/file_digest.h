#ifndef GCNSERVE_SERVER_MODELS_FILE_DIGEST_H_
#define GCNSERVE_SERVER_MODELS_FILE_DIGEST_H_

#include <string>

#include "absl/status/statusor.h"

namespace gcnserve {

// Hex digits of a model file's digest that answers and ListModels carry.
inline constexpr int kShortDigestLength = 12;

// The first kShortDigestLength lowercase hex digits of the SHA-256 of the
// file at `path`, which ties a response to the exact export that produced
// it. NOT_FOUND when the file cannot be read.
absl::StatusOr<std::string> ShortFileDigest(const std::string& path);

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_MODELS_FILE_DIGEST_H_
