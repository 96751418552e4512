#include "server/models/file_digest.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace gcnserve {
namespace {

std::string WriteTemp(const std::string& name, const std::string& bytes) {
  std::string path =
      (std::filesystem::temp_directory_path() / name).string();
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

TEST(ShortFileDigestTest, IsTheStartOfTheFilesSha256) {
  // FIPS 180-2's example: SHA-256("abc") = ba7816bf8f01cfea414140de5dae...
  std::string path = WriteTemp("gcnserve_digest_abc", "abc");
  absl::StatusOr<std::string> digest = ShortFileDigest(path);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, "ba7816bf8f01");
  std::remove(path.c_str());
}

TEST(ShortFileDigestTest, ReadsFilesLargerThanItsBuffer) {
  // SHA-256 of one million 'a' (FIPS 180-2): cdc76e5c9914fb92...
  std::string path =
      WriteTemp("gcnserve_digest_million", std::string(1'000'000, 'a'));
  absl::StatusOr<std::string> digest = ShortFileDigest(path);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, "cdc76e5c9914");
  std::remove(path.c_str());
}

TEST(ShortFileDigestTest, MissingFileIsNotFound) {
  EXPECT_EQ(ShortFileDigest("/nonexistent/model.pt").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace gcnserve
