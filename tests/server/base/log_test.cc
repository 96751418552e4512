#include "server/base/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/server/fake_clock.h"

namespace gcnserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(RateLimitedLogTest, PassesABurstPerIntervalAndCountsTheRest) {
  FakeClock clock;
  std::vector<std::string> lines;
  RateLimitedLog log(3, std::chrono::seconds(10), &clock,
                     [&](std::string_view line) { lines.emplace_back(line); });
  for (int i = 0; i < 1000; ++i) log.Log("bad image " + std::to_string(i));
  EXPECT_THAT(lines, ElementsAre("bad image 0", "bad image 1", "bad image 2"));

  clock.Advance(std::chrono::seconds(9));
  log.Log("still limited");
  EXPECT_EQ(lines.size(), 3u);

  clock.Advance(std::chrono::seconds(1));
  log.Log("next interval");
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[3],
            "next interval (998 similar lines were left out before this one)");
  log.Log("and another");
  EXPECT_EQ(lines[4], "and another");
}

TEST(RateLimitedLogTest, AQuietLogPassesEveryLine) {
  FakeClock clock;
  std::vector<std::string> lines;
  RateLimitedLog log(2, std::chrono::seconds(1), &clock,
                     [&](std::string_view line) { lines.emplace_back(line); });
  for (int i = 0; i < 5; ++i) {
    log.Log("line");
    clock.Advance(std::chrono::seconds(1));
  }
  EXPECT_EQ(lines.size(), 5u);
  for (const std::string& line : lines) EXPECT_THAT(line, Not(HasSubstr("left out")));
}

}  // namespace
}  // namespace gcnserve
