#include "client/progress.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

namespace gcnserve {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A clock the test moves by hand.
struct FakeClock {
  std::chrono::steady_clock::time_point now{std::chrono::seconds(1000)};
  Progress::Clock Function() {
    return [this] { return now; };
  }
};

TEST(ProgressTest, DisabledWritesNothing) {
  std::ostringstream out;
  {
    Progress progress("eval", 10, out, /*enabled=*/false);
    for (int i = 0; i < 10; ++i) progress.Add();
    progress.SetStatus("status");
    progress.Finish();
  }
  EXPECT_EQ(out.str(), "");
}

TEST(ProgressTest, DrawsCountPercentRateAndEndsTheLine) {
  std::ostringstream out;
  FakeClock clock;
  Progress progress("eval", 10, out, true, std::chrono::milliseconds(100),
                    clock.Function());
  clock.now += std::chrono::seconds(1);
  progress.Add(5);
  std::string half = out.str();
  EXPECT_THAT(half,
              HasSubstr("\reval [##########..........] 5/10 50% 5/s ETA 1s"));
  clock.now += std::chrono::seconds(1);
  progress.Add(5);  // completion is always drawn
  EXPECT_THAT(out.str(), HasSubstr("10/10 100%"));
  EXPECT_THAT(out.str(), Not(HasSubstr("\n")));
  progress.Finish();
  EXPECT_EQ(out.str().back(), '\n');
  std::string finished = out.str();
  progress.Finish();  // idempotent
  EXPECT_EQ(out.str(), finished);
}

TEST(ProgressTest, RedrawsAtMostEveryInterval) {
  std::ostringstream out;
  FakeClock clock;
  Progress progress("bench", 1000, out, true, std::chrono::milliseconds(100),
                    clock.Function());
  progress.Add();  // first draw
  size_t after_first = out.str().size();
  for (int i = 0; i < 50; ++i) progress.Add();  // same instant: no redraw
  EXPECT_EQ(out.str().size(), after_first);
  clock.now += std::chrono::milliseconds(150);
  progress.Add();
  EXPECT_GT(out.str().size(), after_first);
  EXPECT_THAT(out.str(), HasSubstr("52/1000"));
}

TEST(ProgressTest, StatusAndResetAndUnknownTotal) {
  std::ostringstream out;
  FakeClock clock;
  Progress progress("bench", 0, out, true, std::chrono::milliseconds(0),
                    clock.Function());
  progress.Add(3);
  EXPECT_THAT(out.str(), HasSubstr("bench 3"));
  EXPECT_THAT(out.str(), Not(HasSubstr("%")));
  progress.Reset("concurrency 4", 10);
  progress.SetStatus("window 1: 100/s");
  EXPECT_THAT(out.str(),
              HasSubstr("concurrency 4 [....................] 0/10 0%"));
  EXPECT_THAT(out.str(), HasSubstr("window 1: 100/s"));
}

TEST(ProgressTest, RateAndEtaCanBeHidden) {
  std::ostringstream out;
  FakeClock clock;
  Progress progress("bench", 10, out, true, std::chrono::milliseconds(0),
                    clock.Function());
  progress.set_show_rate(false);
  clock.now += std::chrono::seconds(2);
  progress.Add(4);
  EXPECT_THAT(out.str(), HasSubstr("4/10 40%"));
  EXPECT_THAT(out.str(), Not(HasSubstr("/s")));
  EXPECT_THAT(out.str(), Not(HasSubstr("ETA")));
}

TEST(ProgressTest, ShorterLineBlanksTheRestOfTheLongerOne) {
  std::ostringstream out;
  FakeClock clock;
  Progress progress("x", 0, out, true, std::chrono::milliseconds(0),
                    clock.Function());
  progress.SetStatus("a long status text");
  size_t long_line = out.str().size();
  progress.SetStatus("");
  std::string last = out.str().substr(long_line);
  EXPECT_EQ(last.size(), long_line);  // '\r' and as many characters
  EXPECT_EQ(last.back(), ' ');
}

}  // namespace
}  // namespace gcnserve
