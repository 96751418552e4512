#include "client/bench_report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace gcnserve {
namespace {

using ::testing::HasSubstr;

BenchResult Result() {
  BenchResult result;
  result.target = "127.0.0.1:50051";
  result.options.levels = {1, 4};
  result.options.duration = std::chrono::milliseconds(2000);
  result.image_count = 10;
  for (double level : {1.0, 4.0}) {
    BenchLevel l;
    l.level = level;
    l.windows = 1;
    l.summary.seconds = 2;
    l.summary.requests = static_cast<int64_t>(100 * level);
    l.summary.ok = l.summary.requests;
    l.summary.throughput = 50 * level;
    l.summary.latency_p50_ms = 3.25;
    l.summary.latency_p99_ms = 9.5;
    l.summary.batch_size = level;
    l.client_cpu = 0.042;
    l.client_threads = 7;
    result.levels.push_back(l);
  }
  result.levels[1].summary.errors["RESOURCE_EXHAUSTED"] = 3;
  result.levels[1].summary.requests += 3;
  return result;
}

TEST(BenchReportTest, TableSaysWhatWasMeasuredAndListsErrors) {
  BenchResult result = Result();
  std::string table = BenchReport(result).Table();
  EXPECT_THAT(table, HasSubstr("127.0.0.1:50051"));
  EXPECT_THAT(table, HasSubstr("closed loop"));
  EXPECT_THAT(table, HasSubstr("10 images"));
  EXPECT_THAT(table, HasSubstr("concurrency"));
  EXPECT_THAT(table, HasSubstr("p99"));
  EXPECT_THAT(table, HasSubstr("4.2%"));  // client CPU
  EXPECT_THAT(table, HasSubstr("concurrency 4: RESOURCE_EXHAUSTED 3"));
}

TEST(BenchReportTest, CsvHasAHeaderAndOneRowPerLevel) {
  BenchResult result = Result();
  std::istringstream csv(BenchReport(result).Csv());
  std::vector<std::string> lines;
  for (std::string line; std::getline(csv, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u);
  auto columns = [](const std::string& line) {
    return std::count(line.begin(), line.end(), ',') + 1;
  };
  EXPECT_EQ(columns(lines[1]), columns(lines[0]));
  EXPECT_EQ(columns(lines[2]), columns(lines[0]));
  EXPECT_THAT(lines[0], HasSubstr("latency_p95_ms"));
  EXPECT_THAT(lines[2], HasSubstr("RESOURCE_EXHAUSTED:3"));
}

TEST(BenchReportTest, JsonParsesWithEveryFigure) {
  BenchResult result = Result();
  nlohmann::json report = nlohmann::json::parse(BenchReport(result).Json());
  EXPECT_EQ(report["target"], "127.0.0.1:50051");
  EXPECT_EQ(report["config"]["mode"], "closed");
  EXPECT_EQ(report["config"]["images"], 10);
  ASSERT_EQ(report["levels"].size(), 2u);
  const auto& level = report["levels"][1];
  EXPECT_EQ(level["concurrency"], 4.0);
  EXPECT_EQ(level["answers"], 403);
  EXPECT_EQ(level["errors"]["RESOURCE_EXHAUSTED"], 3);
  EXPECT_DOUBLE_EQ(level["latency_ms"]["p50"].get<double>(), 3.25);
  EXPECT_DOUBLE_EQ(level["latency_ms"]["p99"].get<double>(), 9.5);
  for (const char* key : {"avg", "p90", "p95", "max"}) {
    EXPECT_TRUE(level["latency_ms"].contains(key)) << key;
  }
  for (const char* key : {"queue", "preprocess", "inference", "total"}) {
    EXPECT_TRUE(level["server_ms"].contains(key)) << key;
  }
  EXPECT_DOUBLE_EQ(level["client_cpu_percent"].get<double>(), 4.2);
}

}  // namespace
}  // namespace gcnserve
