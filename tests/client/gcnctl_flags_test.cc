// gcnctl's flags and usage (client/gcnctl/flags.h): defaults, checks, where
// flags may stand, and that --help names every flag. The commands
// themselves run end to end in gcnctl_test.py.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "client/bench.h"
#include "client/classifier_client.h"
#include "client/gcnctl/flags.h"

namespace gcnserve::gcnctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<ParsedArgs> Parse(const std::vector<std::string>& args) {
  return Flags().Parse(args, nullptr);
}

TEST(GcnctlFlagsTest, UsageNamesEveryFlag) {
  const std::string usage = Usage();
  for (const std::string& name : Flags().Names()) {
    EXPECT_THAT(usage, HasSubstr("--" + name)) << name;
  }
}

TEST(GcnctlFlagsTest, DefaultsAreTheOptionsOwn) {
  ASSERT_TRUE(Parse({}).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_target), ClientOptions().target);
  EXPECT_EQ(absl::GetFlag(FLAGS_deadline_ms), ClientOptions().deadline_ms);
  EXPECT_EQ(absl::GetFlag(FLAGS_max_message_bytes),
            ClientOptions().max_message_bytes);
  const BenchOptions bench;
  EXPECT_EQ(absl::GetFlag(FLAGS_top_k), bench.top_k);
  EXPECT_EQ(absl::GetFlag(FLAGS_max_outstanding), bench.max_outstanding);
  EXPECT_EQ(absl::GetFlag(FLAGS_window_ms), bench.window.count());
  EXPECT_EQ(absl::GetFlag(FLAGS_warmup_s) * 1000, bench.warmup.count());
  EXPECT_EQ(absl::GetFlag(FLAGS_stability) / 100, bench.stability);
  EXPECT_EQ(absl::GetFlag(FLAGS_graph), "points");
  EXPECT_FALSE(absl::GetFlag(FLAGS_json));
}

TEST(GcnctlFlagsTest, FlagsStandBeforeAndAfterTheCommand) {
  auto parsed = Parse({"--target", "host:1", "classify", "--json", "a.png",
                       "--top-k=3", "--", "--b.png"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(parsed->positional, ElementsAre("classify", "a.png", "--b.png"));
  EXPECT_THAT(parsed->given, ElementsAre("json", "target", "top-k"));
  EXPECT_EQ(absl::GetFlag(FLAGS_target), "host:1");
  EXPECT_TRUE(absl::GetFlag(FLAGS_json));
  EXPECT_EQ(absl::GetFlag(FLAGS_top_k), 3);
  EXPECT_TRUE(IsConnectionFlag("target"));
  EXPECT_FALSE(IsConnectionFlag("top-k"));
}

TEST(GcnctlFlagsTest, GraphTakesTheSharedNames) {
  ASSERT_TRUE(Parse({"--graph", "FULL"}).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_graph), "FULL");
}

TEST(GcnctlFlagsTest, BadValuesAreRefusedNamingTheFlag) {
  for (const auto& [arg, message] :
       std::vector<std::pair<std::string, std::string>>{
           {"--graph=some",
            "--graph=some is not allowed: none, points or full"},
           {"--compression=zstd",
            "--compression=zstd is not allowed: none, gzip or deflate"},
           {"--deadline-ms=0",
            "--deadline-ms=0 is not allowed: a positive integer"},
           {"--top-k=-1",
            "--top-k=-1 is not allowed: an integer from 0 to 100000"},
           {"--stability=0",
            "--stability=0 is not allowed: a percentage above 0, at most 100"},
           {"--warmup-s=-1",
            "--warmup-s=-1 is not allowed: seconds from 0 to 86400"},
           {"--arrivals=burst",
            "--arrivals=burst is not allowed: constant or poisson"},
           {"--format=xml", "--format=xml is not allowed: table, csv or json"},
           {"--bogus=1", "unknown flag --bogus; see --help"}}) {
    auto parsed = Parse({arg});
    ASSERT_FALSE(parsed.ok()) << arg;
    EXPECT_EQ(parsed.status().message(), message);
  }
}

}  // namespace
}  // namespace gcnserve::gcnctl
