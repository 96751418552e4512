#include "server/base/cpu_count.h"

#include <gtest/gtest.h>

namespace gcnserve {
namespace {

TEST(CpuCountTest, ReadsCgroupV2CpuMax) {
  EXPECT_DOUBLE_EQ(*CpuMaxQuota("200000 100000\n"), 2.0);
  EXPECT_DOUBLE_EQ(*CpuMaxQuota("150000 100000"), 1.5);
  EXPECT_FALSE(CpuMaxQuota("max 100000\n").has_value());
  EXPECT_FALSE(CpuMaxQuota("").has_value());  // no such file
  EXPECT_FALSE(CpuMaxQuota("garbage").has_value());
}

TEST(CpuCountTest, ReadsCgroupV1CfsQuota) {
  EXPECT_DOUBLE_EQ(*CfsQuota("400000\n", "100000\n"), 4.0);
  EXPECT_FALSE(CfsQuota("-1\n", "100000\n").has_value());
  EXPECT_FALSE(CfsQuota("", "").has_value());
}

TEST(CpuCountTest, TheQuotaCapsTheAffinityRoundedUp) {
  EXPECT_EQ(UsableCores(64, 2.0), 2);    // docker run --cpus 2 on 64 cores
  EXPECT_EQ(UsableCores(64, 1.5), 2);    // a part of a core counts
  EXPECT_EQ(UsableCores(64, 0.5), 1);
  EXPECT_EQ(UsableCores(4, 16.0), 4);    // taskset to 4 CPUs
  EXPECT_EQ(UsableCores(8, std::nullopt), 8);
  EXPECT_EQ(UsableCores(0, std::nullopt), 1);  // never 0
}

TEST(CpuCountTest, ThisProcessHasAtLeastOneCore) {
  EXPECT_GE(UsableCores(), 1);
}

}  // namespace
}  // namespace gcnserve
