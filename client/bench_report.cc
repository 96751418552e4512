#include "client/bench_report.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "proto/graph_detail.h"

namespace gcnserve {
namespace {

std::string Format(const char* format, double value) {
  char text[48];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

int64_t ErrorCount(const BenchSummary& summary) {
  int64_t errors = 0;
  for (const auto& [code, count] : summary.errors) errors += count;
  return errors;
}

std::string ErrorsByCode(const BenchSummary& summary) {
  std::string text;
  for (const auto& [code, count] : summary.errors) {
    if (!text.empty()) text += ";";
    text += code + ":" + std::to_string(count);
  }
  return text;
}

std::string Describe(const BenchResult& result) {
  const BenchOptions& o = result.options;
  std::ostringstream out;
  out << "gcnserve bench: " << result.target << ", model "
      << (o.model.empty() ? "(server's default)" : o.model);
  if (o.version > 0) out << " v" << o.version;
  out << ", " << (o.streaming ? "streaming" : "unary") << ", ";
  if (o.mode == LoadMode::kClosedLoop) {
    out << "closed loop";
  } else {
    out << "open loop ("
        << (o.arrivals == Arrivals::kPoisson ? "Poisson" : "constant")
        << " arrivals)";
  }
  out << ", graph " << GraphDetailName(o.graph) << ", " << result.image_count
      << (result.image_count == 1 ? " image" : " images") << "\n";
  if (o.duration.count() > 0) {
    out << "measured: " << Format("%g", o.duration.count() / 1000.0)
        << " s per level after " << Format("%g", o.warmup.count() / 1000.0)
        << " s of warm-up\n";
  } else {
    out << "measured: windows of " << Format("%g", o.window.count() / 1000.0)
        << " s after " << Format("%g", o.warmup.count() / 1000.0)
        << " s of warm-up, until " << o.stable_windows << " agree within "
        << Format("%g", o.stability * 100) << "% (at most " << o.max_windows
        << "); figures over those " << o.stable_windows << "\n";
  }
  return out.str();
}

}  // namespace

std::string BenchReport::Table() const {
  const bool closed = result_.options.mode == LoadMode::kClosedLoop;
  std::ostringstream out;
  out << Describe(result_) << "\n";
  char line[512];
  std::snprintf(line, sizeof line,
                "%11s %9s %8s %6s | %7s %7s %7s %7s %7s %7s | %6s %6s %6s %6s "
                "%5s | %6s %s\n",
                closed ? "concurrency" : "req/s sent", "req/s ok", "answers",
                "errors", "avg", "p50", "p90", "p95", "p99", "max", "queue",
                "prep", "infer", "server", "batch", "client", "stable");
  out << line;
  for (const BenchLevel& level : result_.levels) {
    const BenchSummary& s = level.summary;
    std::string stable = result_.options.duration.count() > 0
                             ? "fixed"
                             : (level.stable ? "yes" : "no") +
                                   std::string(" (") +
                                   std::to_string(level.windows) + "w)";
    std::snprintf(
        line, sizeof line,
        "%11s %9.1f %8lld %6lld | %7.2f %7.2f %7.2f %7.2f %7.2f %7.2f "
        "| %6.2f %6.2f %6.2f %6.2f %5.2f | %5.1f%% %s\n",
        Format("%g", level.level).c_str(), s.throughput,
        static_cast<long long>(s.requests),
        static_cast<long long>(ErrorCount(s)), s.latency_avg_ms,
        s.latency_p50_ms, s.latency_p90_ms, s.latency_p95_ms, s.latency_p99_ms,
        s.latency_max_ms, s.queue_ms, s.preprocess_ms, s.inference_ms,
        s.server_ms, s.batch_size, level.client_cpu * 100, stable.c_str());
    out << line;
  }
  out << "latency: client-observed, ms, of the OK answers; queue, prep "
         "(decode + resize), infer and server (the server's own total): "
         "means from the responses' timing, ms;\n"
         "batch: mean size of the batch a request ran in; client: this "
         "process's CPU (user + system) per second, in % of one core";
  if (!result_.levels.empty()) {
    out << ", " << result_.levels.back().client_threads << " threads";
  }
  out << "\n";
  for (const BenchLevel& level : result_.levels) {
    if (level.summary.errors.empty() && level.skipped == 0) continue;
    out << (closed ? "concurrency " : "rate ") << Format("%g", level.level)
        << ":";
    for (const auto& [code, count] : level.summary.errors) {
      out << " " << code << " " << count;
    }
    if (level.skipped > 0) {
      out << " (" << level.skipped
          << " requests due but not sent: --max-outstanding in flight, or no"
             " stream open)";
    }
    out << "\n";
  }
  return out.str();
}

std::string BenchReport::Csv() const {
  std::ostringstream out;
  out << "mode,streaming,level,seconds,answers,ok,errors,errors_by_code,"
         "throughput,latency_avg_ms,latency_p50_ms,latency_p90_ms,"
         "latency_p95_ms,latency_p99_ms,latency_max_ms,queue_ms,"
         "preprocess_ms,inference_ms,server_ms,batch_size,client_cpu_percent,"
         "client_threads,skipped,windows,stable\n";
  const BenchOptions& o = result_.options;
  for (const BenchLevel& level : result_.levels) {
    const BenchSummary& s = level.summary;
    out << (o.mode == LoadMode::kClosedLoop ? "closed" : "open") << ","
        << (o.streaming ? 1 : 0) << "," << Format("%g", level.level) << ","
        << Format("%.3f", s.seconds) << "," << s.requests << "," << s.ok << ","
        << ErrorCount(s) << "," << ErrorsByCode(s) << ","
        << Format("%.2f", s.throughput) << ","
        << Format("%.3f", s.latency_avg_ms) << ","
        << Format("%.3f", s.latency_p50_ms) << ","
        << Format("%.3f", s.latency_p90_ms) << ","
        << Format("%.3f", s.latency_p95_ms) << ","
        << Format("%.3f", s.latency_p99_ms) << ","
        << Format("%.3f", s.latency_max_ms) << "," << Format("%.3f", s.queue_ms)
        << "," << Format("%.3f", s.preprocess_ms) << ","
        << Format("%.3f", s.inference_ms) << "," << Format("%.3f", s.server_ms)
        << "," << Format("%.3f", s.batch_size) << ","
        << Format("%.2f", level.client_cpu * 100) << "," << level.client_threads
        << "," << level.skipped << "," << level.windows << ","
        << (level.stable ? 1 : 0) << "\n";
  }
  return out.str();
}

std::string BenchReport::Json() const {
  const BenchOptions& o = result_.options;
  nlohmann::json config = {
      {"model", o.model},
      {"version", o.version},
      {"graph", std::string(GraphDetailName(o.graph))},
      {"top_k", o.top_k},
      {"streaming", o.streaming},
      {"mode", o.mode == LoadMode::kClosedLoop ? "closed" : "open"},
      {"arrivals", o.arrivals == Arrivals::kPoisson ? "poisson" : "constant"},
      {"images", result_.image_count},
      {"warmup_s", o.warmup.count() / 1000.0},
      {"window_s", o.window.count() / 1000.0},
      {"stable_windows", o.stable_windows},
      {"stability", o.stability},
      {"max_windows", o.max_windows},
      {"duration_s", o.duration.count() / 1000.0},
  };
  if (o.streaming) config["streams"] = o.streams;
  if (o.mode == LoadMode::kOpenLoop)
    config["max_outstanding"] = o.max_outstanding;
  nlohmann::json levels = nlohmann::json::array();
  for (const BenchLevel& level : result_.levels) {
    const BenchSummary& s = level.summary;
    levels.push_back({
        {o.mode == LoadMode::kClosedLoop ? "concurrency" : "rate", level.level},
        {"seconds", s.seconds},
        {"windows", level.windows},
        {"stable", level.stable},
        {"answers", s.requests},
        {"ok", s.ok},
        {"errors", s.errors},
        {"skipped", level.skipped},
        {"throughput", s.throughput},
        {"latency_ms",
         {{"avg", s.latency_avg_ms},
          {"p50", s.latency_p50_ms},
          {"p90", s.latency_p90_ms},
          {"p95", s.latency_p95_ms},
          {"p99", s.latency_p99_ms},
          {"max", s.latency_max_ms}}},
        {"server_ms",
         {{"queue", s.queue_ms},
          {"preprocess", s.preprocess_ms},
          {"inference", s.inference_ms},
          {"total", s.server_ms}}},
        {"batch_size", s.batch_size},
        {"client_cpu_percent", level.client_cpu * 100},
        {"client_threads", level.client_threads},
    });
  }
  nlohmann::json report = {
      {"target", result_.target}, {"config", config}, {"levels", levels}};
  return report.dump(2) + "\n";
}

}  // namespace gcnserve
