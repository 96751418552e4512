#include "server/rate_limited_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/server/fake_clock.h"

namespace gcnserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class RateLimitedLogTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  std::vector<std::string> lines_;
  RateLimitedLog log_{"decoder: ", std::chrono::seconds(60), &clock_,
                      [this](std::string_view line) {
                        lines_.emplace_back(line);
                      }};
};

TEST_F(RateLimitedLogTest, FirstLineIsWrittenAtOnce) {
  log_.Log("bad huffman code");
  EXPECT_THAT(lines_, ElementsAre("decoder: bad huffman code"));
}

TEST_F(RateLimitedLogTest, AFloodWritesOneLinePerInterval) {
  for (int i = 0; i < 5000; ++i) {
    log_.Log("bad huffman code");
    clock_.Advance(std::chrono::milliseconds(10));  // 50 s in all
  }
  EXPECT_EQ(lines_.size(), 1u);
  clock_.Advance(std::chrono::seconds(10));
  log_.Log("premature end of data");
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_EQ(lines_[1],
            "decoder: premature end of data (and 4999 more lines held back "
            "since the last one)");
}

TEST_F(RateLimitedLogTest, CountStartsAgainAfterEachWrittenLine) {
  log_.Log("a");
  log_.Log("b");
  clock_.Advance(std::chrono::seconds(61));
  log_.Log("c");
  clock_.Advance(std::chrono::seconds(61));
  log_.Log("d");
  EXPECT_THAT(lines_, ElementsAre("decoder: a",
                                  "decoder: c (and 1 more lines held back "
                                  "since the last one)",
                                  "decoder: d"));
}

}  // namespace
}  // namespace gcnserve
