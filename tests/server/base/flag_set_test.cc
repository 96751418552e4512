#include "server/base/flag_set.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "absl/flags/flag.h"

// Flags of this test only (a prefix keeps them apart from the server's,
// linked into the same binary).
ABSL_FLAG(int, flag_set_test_count, 3, "how many");
ABSL_FLAG(double, flag_set_test_seconds, 1.5, "how long");
ABSL_FLAG(std::string, flag_set_test_name, "plain",
          "a name, with a help text long enough to be wrapped onto more than "
          "one line of the help, which fits 79 columns");
ABSL_FLAG(bool, flag_set_test_json, false, "print JSON");

namespace gcnserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class FlagSetTest : public ::testing::Test {
 protected:
  // Every flag of the test, checked as a program would.
  static FlagSet Flags(std::string env_prefix, bool positional) {
    FlagSet::Options options;
    options.env_prefix = std::move(env_prefix);
    options.positional = positional;
    FlagSet flags(options);
    flags.AddInRange(FLAGS_flag_set_test_count, 0, 10)
        .AddSeconds(FLAGS_flag_set_test_seconds, 60)
        .Add(FLAGS_flag_set_test_name, "plain or fancy",
             [](const std::string& v) { return v == "plain" || v == "fancy"; })
        .Add(FLAGS_flag_set_test_json);
    return flags;
  }

  absl::StatusOr<ParsedArgs> Parse(std::vector<std::string> args,
                                   std::map<std::string, std::string> env = {},
                                   bool positional = true) {
    env_ = std::move(env);
    return Flags("TEST_", positional).Parse(args, [this](const char* name) {
      auto it = env_.find(name);
      return it == env_.end() ? nullptr : it->second.c_str();
    });
  }

  std::map<std::string, std::string> env_;
};

TEST_F(FlagSetTest, ReadsBothFormsWithHyphens) {
  auto parsed = Parse({"--flag-set-test-count=4", "--flag-set-test-seconds",
                       "2.5", "--flag-set-test-name", "fancy"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(absl::GetFlag(FLAGS_flag_set_test_count), 4);
  EXPECT_DOUBLE_EQ(absl::GetFlag(FLAGS_flag_set_test_seconds), 2.5);
  EXPECT_EQ(absl::GetFlag(FLAGS_flag_set_test_name), "fancy");
  EXPECT_THAT(parsed->given,
              ElementsAre("flag-set-test-count", "flag-set-test-name",
                          "flag-set-test-seconds"));
  EXPECT_FALSE(parsed->help);
}

TEST_F(FlagSetTest, TheUnderscoreSpellingIsTheSameFlag) {
  auto parsed = Parse({"--flag_set_test_count=5"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(absl::GetFlag(FLAGS_flag_set_test_count), 5);
  EXPECT_THAT(parsed->given, ElementsAre("flag-set-test-count"));
}

TEST_F(FlagSetTest, ABoolAloneIsTrueAndTakesNoWord) {
  auto parsed = Parse({"classify", "--flag-set-test-json", "a.png"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(absl::GetFlag(FLAGS_flag_set_test_json));
  EXPECT_THAT(parsed->positional, ElementsAre("classify", "a.png"));
  ASSERT_TRUE(Parse({"--flag-set-test-json=false"}).ok());
  EXPECT_FALSE(absl::GetFlag(FLAGS_flag_set_test_json));
}

TEST_F(FlagSetTest, TheLastValueWinsAndDoubleDashEndsTheFlags) {
  auto parsed = Parse({"--flag-set-test-count=1", "x", "--flag-set-test-count",
                       "2", "--", "--flag-set-test-count=3", "-h"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(absl::GetFlag(FLAGS_flag_set_test_count), 2);
  EXPECT_THAT(parsed->positional,
              ElementsAre("x", "--flag-set-test-count=3", "-h"));
}

TEST_F(FlagSetTest, EachParseStartsFromTheDefaults) {
  ASSERT_TRUE(Parse({"--flag-set-test-count=4", "--flag-set-test-json"},
                    {{"TEST_FLAG_SET_TEST_NAME", "fancy"}})
                  .ok());
  ASSERT_TRUE(Parse({}).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_flag_set_test_count), 3);
  EXPECT_FALSE(absl::GetFlag(FLAGS_flag_set_test_json));
  EXPECT_EQ(absl::GetFlag(FLAGS_flag_set_test_name), "plain");
}

TEST_F(FlagSetTest, HelpStopsTheParse) {
  for (const char* help : {"--help", "-h"}) {
    auto parsed = Parse({"--flag-set-test-count=4", help, "--no-such-flag"});
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_TRUE(parsed->help);
  }
}

TEST_F(FlagSetTest, TheEnvironmentSetsWhatTheCommandLineDoesNot) {
  auto parsed = Parse({"--flag-set-test-count=7"},
                      {{"TEST_FLAG_SET_TEST_COUNT", "9"},
                       {"TEST_FLAG_SET_TEST_SECONDS", "30"}});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(absl::GetFlag(FLAGS_flag_set_test_count), 7);  // the flag wins
  EXPECT_DOUBLE_EQ(absl::GetFlag(FLAGS_flag_set_test_seconds), 30);
  EXPECT_THAT(parsed->given, ElementsAre("flag-set-test-count"));
  // A variable the flag overrides is not read at all, bad or not.
  EXPECT_TRUE(
      Parse({"--flag-set-test-count=7"}, {{"TEST_FLAG_SET_TEST_COUNT", "lots"}})
          .ok());
}

TEST_F(FlagSetTest, ABadVariableIsNamed) {
  auto parsed = Parse({}, {{"TEST_FLAG_SET_TEST_COUNT", "lots"}});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(parsed.status().message(),
            "from TEST_FLAG_SET_TEST_COUNT: --flag-set-test-count=lots is not "
            "allowed: an integer from 0 to 10");
}

TEST_F(FlagSetTest, WithoutAPrefixNoVariableIsRead) {
  env_ = {{"FLAG_SET_TEST_COUNT", "9"}, {"_FLAG_SET_TEST_COUNT", "9"}};
  auto parsed = Flags("", true).Parse({}, [this](const char* name) {
    auto it = env_.find(name);
    return it == env_.end() ? nullptr : it->second.c_str();
  });
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(absl::GetFlag(FLAGS_flag_set_test_count), 3);
}

struct BadCase {
  std::vector<std::string> args;
  const char* message;  // all of it
};

class FlagSetBadTest : public FlagSetTest,
                       public ::testing::WithParamInterface<BadCase> {};

TEST_P(FlagSetBadTest, IsRefusedNamingTheFlag) {
  auto parsed = Parse(GetParam().args, {}, /*positional=*/false);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(parsed.status().message(), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Messages, FlagSetBadTest,
    ::testing::Values(
        BadCase{{"--flag-set-test-count=11"},
                "--flag-set-test-count=11 is not allowed: an integer from 0 "
                "to 10"},
        BadCase{{"--flag-set-test-count=x"},
                "--flag-set-test-count=x is not allowed: an integer from 0 "
                "to 10"},
        BadCase{{"--flag-set-test-seconds=-1"},
                "--flag-set-test-seconds=-1 is not allowed: seconds from 0 "
                "to 60"},
        BadCase{{"--flag-set-test-seconds=nan"},
                "--flag-set-test-seconds=nan is not allowed: seconds from 0 "
                "to 60"},
        BadCase{{"--flag-set-test-name=odd"},
                "--flag-set-test-name=odd is not allowed: plain or fancy"},
        BadCase{{"--flag-set-test-json=maybe"},
                "--flag-set-test-json=maybe is not allowed: true or false"},
        BadCase{{"--flag-set-test-count"},
                "flag --flag-set-test-count needs a value"},
        BadCase{{"--no-such-flag=1"},
                "unknown flag --no-such-flag; see --help"},
        // Flags linked in but not added are unknown: Abseil's own, others'.
        BadCase{{"--flagfile=f"}, "unknown flag --flagfile; see --help"},
        BadCase{{"stray"}, "unexpected argument 'stray'; see --help"},
        BadCase{{"--", "stray"}, "unexpected argument 'stray'; see --help"}));

TEST_F(FlagSetTest, HelpNamesEachFlagItsVariableAndDefault) {
  std::string help = Flags("TEST_", false).Help();
  EXPECT_THAT(help, HasSubstr("  --flag-set-test-count (TEST_FLAG_SET_TEST_"
                              "COUNT, default \"3\")\n      how many\n"));
  EXPECT_THAT(help, HasSubstr("  --flag-set-test-json (TEST_FLAG_SET_TEST_"
                              "JSON, default \"false\")\n"));
  std::istringstream lines(help);
  int name_lines = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("  --", 0) == 0) {
      ++name_lines;
    } else {
      EXPECT_LE(line.size(), 79u) << line;
      EXPECT_EQ(line.rfind("      ", 0), 0u) << line;
    }
  }
  EXPECT_EQ(name_lines, 4);
  EXPECT_THAT(Flags("", false).Help(),
              HasSubstr("  --flag-set-test-count (default \"3\")\n"));
  EXPECT_THAT(Flags("", false).Names(),
              ElementsAre("flag-set-test-count", "flag-set-test-seconds",
                          "flag-set-test-name", "flag-set-test-json"));
}

}  // namespace
}  // namespace gcnserve
