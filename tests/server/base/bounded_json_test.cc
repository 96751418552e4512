#include "server/base/bounded_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace gcnserve {
namespace {

using ::testing::HasSubstr;

std::string Nested(int depth, const std::string& inside = "1") {
  return std::string(depth, '[') + inside + std::string(depth, ']');
}

TEST(BoundedJsonTest, NestingUpToTheLimitParses) {
  absl::StatusOr<nlohmann::json> parsed = ParseBoundedJson(Nested(64));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->is_array());
}

TEST(BoundedJsonTest, DeeperNestingIsRefusedWithoutBuildingIt) {
  // Arrays, objects and a mix, up to a depth far past any thread's stack
  // were the walk recursive.
  std::string objects;
  for (int i = 0; i < 65; ++i) objects += "{\"a\":";
  objects += "1" + std::string(65, '}');
  for (const std::string& text :
       {Nested(65), Nested(200'000), objects, "{\"a\":" + Nested(64) + "}",
        Nested(1'000'000, "")}) {
    absl::Status status = CheckJson(text);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), HasSubstr("deeper than 64"));
    EXPECT_FALSE(ParseBoundedJson(text).ok());
  }
}

TEST(BoundedJsonTest, TheLimitsAreTheCallersToSet) {
  JsonLimits shallow;
  shallow.max_depth = 2;
  EXPECT_TRUE(CheckJson("[[1]]", shallow).ok());
  EXPECT_FALSE(CheckJson("[[[1]]]", shallow).ok());
  JsonLimits few;
  few.max_values = 4;
  EXPECT_TRUE(CheckJson("[1,2,3]", few).ok());  // the array counts too
  absl::Status status = CheckJson("[1,2,3,4]", few);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("more than 4 values"));
  EXPECT_TRUE(CheckJson(R"({"a":1,"b":2,"c":3})", few).ok());  // keys do not
}

TEST(BoundedJsonTest, TextThatIsNotJsonIsRefused) {
  for (const char* text : {"", "{", "[1,]", "{\"a\" 1}", "nul", "[1] 2", "\xff"}) {
    absl::Status status = CheckJson(text);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(std::string(status.message()), HasSubstr("not valid JSON"));
  }
}

}  // namespace
}  // namespace gcnserve
