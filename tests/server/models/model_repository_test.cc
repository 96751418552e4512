#include "server/models/model_repository.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace gcnserve {
namespace {

namespace fs = std::filesystem;

TEST(ParseVersionFolderTest, OnlyCanonicalDecimalNamesAreVersions) {
  int64_t version = 0;
  EXPECT_TRUE(ParseVersionFolder("1", &version));
  EXPECT_EQ(version, 1);
  EXPECT_TRUE(ParseVersionFolder("120", &version));
  EXPECT_EQ(version, 120);
  EXPECT_TRUE(ParseVersionFolder("999999999999999999", &version));
  EXPECT_EQ(version, 999'999'999'999'999'999);
  for (const char* name : {"", "0", "01", "+1", "-1", " 1", "1 ", "1a", "0x1",
                           "1e3", "١", "9999999999999999999", "00"}) {
    EXPECT_FALSE(ParseVersionFolder(name, &version)) << name;
  }
}

TEST(ScanRepositoryTest, NonCanonicalVersionFoldersAreListedAsIgnored) {
  const fs::path root = fs::path(testing::TempDir()) / "scan_versions";
  fs::remove_all(root);
  for (const char* folder : {"1", "01", "+1", "2", "v3", ".4", "notes"}) {
    fs::create_directories(root / "m" / folder);
    if (std::string(folder) != "notes") {
      std::ofstream(root / "m" / folder / "model.pt") << "x";
    }
  }
  absl::StatusOr<std::vector<ModelOnDisk>> found = ScanRepository(root.string());
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 1u);
  const ModelOnDisk& model = (*found)[0];
  ASSERT_EQ(model.versions.size(), 2u);
  EXPECT_EQ(model.versions.at(1), (root / "m" / "1" / "model.pt").string());
  EXPECT_EQ(model.versions.at(2), (root / "m" / "2" / "model.pt").string());
  std::vector<std::string> ignored = model.ignored;
  std::sort(ignored.begin(), ignored.end());
  EXPECT_EQ(ignored, (std::vector<std::string>{(root / "m" / "+1").string(),
                                               (root / "m" / "01").string(),
                                               (root / "m" / "v3").string()}));
  fs::remove_all(root);
}

}  // namespace
}  // namespace gcnserve
