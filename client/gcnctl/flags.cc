#include "client/gcnctl/flags.h"

#include <set>

#include "absl/flags/flag.h"
#include "client/bench.h"
#include "client/classifier_client.h"
#include "proto/graph_detail.h"

// Defaults are those of the options they fill, where there are some.
ABSL_FLAG(std::string, target, gcnserve::ClientOptions().target,
          "host:port, several spread round-robin, or a gRPC URI");
ABSL_FLAG(int, deadline_ms, gcnserve::ClientOptions().deadline_ms,
          "deadline of every call, ms");
ABSL_FLAG(bool, tls, false, "TLS, trusting the system's roots");
ABSL_FLAG(std::string, tls_ca, "", "TLS, trusting the PEM roots in this file");
ABSL_FLAG(std::string, tls_cert, "", "client certificate (mutual TLS)");
ABSL_FLAG(std::string, tls_key, "", "the client certificate's key");
ABSL_FLAG(std::string, tls_server_name, "",
          "name to check the server's certificate against");
ABSL_FLAG(std::string, compression, "none", "compress what is sent");
ABSL_FLAG(int, max_message_bytes, gcnserve::ClientOptions().max_message_bytes,
          "largest message sent or received");
ABSL_FLAG(bool, no_progress, false, "no progress line");

ABSL_FLAG(std::string, model, "", "model; empty: the server's default");
ABSL_FLAG(int, version, 0, "model version; 0: the newest");
ABSL_FLAG(int, top_k, gcnserve::BenchOptions().top_k, "classes to return");
ABSL_FLAG(std::string, graph, "points",
          "none, points or full (classify --overlay: full unless given)");
ABSL_FLAG(int, max_edges, 0, "--graph full: strongest edges kept per node");
ABSL_FLAG(bool, json, false, "print JSON");
ABSL_FLAG(std::string, overlay, "", "classify: folder for the overlays");
ABSL_FLAG(std::string, service, "", "health: the service asked about");
ABSL_FLAG(std::string, concurrency, "",
          "eval: requests in flight; bench: LEVELS of them (default 1:16)");
ABSL_FLAG(std::string, rate, "", "bench: LEVELS of requests per second");
ABSL_FLAG(std::string, arrivals, "constant", "bench --rate: constant|poisson");
ABSL_FLAG(int, max_outstanding, gcnserve::BenchOptions().max_outstanding,
          "bench --rate: requests in flight at most");
ABSL_FLAG(bool, streaming, false, "bench: ClassifyStream instead of Classify");
ABSL_FLAG(int, streams, gcnserve::BenchOptions().streams,
          "bench --rate --streaming: streams");
ABSL_FLAG(double, warmup_s, gcnserve::BenchOptions().warmup.count() / 1000.0,
          "bench: unmeasured load before each level, s");
ABSL_FLAG(int, window_ms,
          static_cast<int>(gcnserve::BenchOptions().window.count()),
          "bench: measurement window, ms");
ABSL_FLAG(int, stable_windows, gcnserve::BenchOptions().stable_windows,
          "bench: windows that must agree");
ABSL_FLAG(double, stability, 10,  // BenchOptions::stability, 0.10
          "bench: agreement on throughput and p50, +-%");
ABSL_FLAG(int, max_windows, gcnserve::BenchOptions().max_windows,
          "bench: windows at most before giving up on stability");
ABSL_FLAG(double, duration_s,
          gcnserve::BenchOptions().duration.count() / 1000.0,
          "bench: instead, one window of this many s per level");
ABSL_FLAG(int, seed, static_cast<int>(gcnserve::BenchOptions().seed),
          "bench: seed of the Poisson arrivals");
ABSL_FLAG(std::string, format, "table", "bench: table, csv or json");

namespace gcnserve::gcnctl {
namespace {

bool Positive(int value) { return value >= 1; }

template <typename... Names>
auto OneOf(Names... names) {
  return [=](const std::string& value) { return ((value == names) || ...); };
}

}  // namespace

const FlagSet& Flags() {
  static const FlagSet* flags = [] {
    FlagSet::Options options;
    options.positional = true;
    auto* set = new FlagSet(options);
    set->Add(FLAGS_target)
        .Add(FLAGS_deadline_ms, "a positive integer", Positive)
        .Add(FLAGS_tls)
        .Add(FLAGS_tls_ca)
        .Add(FLAGS_tls_cert)
        .Add(FLAGS_tls_key)
        .Add(FLAGS_tls_server_name)
        .Add(FLAGS_compression, "none, gzip or deflate",
             [](const std::string& v) { return ParseCompression(v).ok(); })
        .Add(FLAGS_max_message_bytes, "a positive integer", Positive)
        .Add(FLAGS_no_progress)
        .Add(FLAGS_model)
        .AddInRange(FLAGS_version, 0, 1 << 30)
        .AddInRange(FLAGS_top_k, 0, 100000)
        .Add(FLAGS_graph, "none, points or full",
             [](const std::string& v) { return ParseGraphDetail(v).ok(); })
        .AddInRange(FLAGS_max_edges, 0, 100000)
        .Add(FLAGS_json)
        .Add(FLAGS_overlay)
        .Add(FLAGS_service)
        .Add(FLAGS_concurrency)  // read by the command: a number or levels
        .Add(FLAGS_rate)
        .Add(FLAGS_arrivals, "constant or poisson",
             OneOf("constant", "poisson"))
        .AddInRange(FLAGS_max_outstanding, 1, 1 << 20)
        .Add(FLAGS_streaming)
        .AddInRange(FLAGS_streams, 1, 1024)
        .AddSeconds(FLAGS_warmup_s, 86400)
        .AddInRange(FLAGS_window_ms, 1, 3600000)
        .AddInRange(FLAGS_stable_windows, 1, 100)
        .Add(FLAGS_stability, "a percentage above 0, at most 100",
             [](double v) { return v > 0 && v <= 100; })
        .AddInRange(FLAGS_max_windows, 1, 1000)
        .AddSeconds(FLAGS_duration_s, 86400)
        .AddInRange(FLAGS_seed, 0, 1 << 30)
        .Add(FLAGS_format, "table, csv or json", OneOf("table", "csv", "json"));
    return set;
  }();
  return *flags;
}

bool IsConnectionFlag(const std::string& name) {
  static const std::set<std::string> kConnection = {
      "target",          "deadline-ms", "tls",
      "tls-ca",          "tls-cert",    "tls-key",
      "tls-server-name", "compression", "max-message-bytes",
      "no-progress"};
  return kConnection.count(name) > 0;
}

const char* Usage() {
  static constexpr char kUsage[] = R"(gcnctl: the client of gcnserve.

Usage: gcnctl [CONNECTION OPTIONS] COMMAND ...

Options go before or after the command, as --name value or --name=value;
-- ends them (what follows are operands, such as a file named --x).

Commands:
  classify FILE... [--model NAME] [--version N] [--top-k N]
                   [--graph none|points|full] [--max-edges N] [--json]
                   [--overlay DIR]
      Classifies each image file and prints its top classes (with --json,
      one JSON object per file and line: {"file", "response"} or
      {"file", "error": {"code", "message"}}). --overlay DIR also writes
      DIR/<name>.png: the image (enlarged when small) with the interest
      points (size = attention score, colour = feature level), each point's
      strongest edges (opacity = weight), the top classes, and a heat map of
      the adjacency; it asks for --graph full unless --graph is given.
  models [--json]
      Lists the models the server serves.
  health [--service NAME]
      Prints the server's health ("" or gcnserve.v1.Classifier); exit 0 only
      when SERVING.
  eval DIR [--model NAME] [--version N] [--concurrency N] [--json]
      Accuracy of a model on DIR, which holds one subfolder of images per
      class index (DIR/0/*.png, DIR/1/*.png, ...), with a confusion matrix.
  bench FILE|DIR... [--model NAME] [--version N] [--graph none|points|full]
                    [--top-k N] [LOAD] [MEASUREMENT] [--format table|csv|json]
      A load generator (after Triton's perf_analyzer). The images (files, or
      every image under a folder) are read once and sent in turn. Per load
      level it reports throughput, latency (avg, p50, p90, p95, p99, max),
      errors by status code, the server-side split from the responses'
      timing (queue, preprocess, inference, server total, mean batch size),
      and its own CPU use.
    LOAD, one of:
      --concurrency LEVELS  closed loop: requests in flight (default 1:16)
      --rate LEVELS         open loop: requests per second
        --arrivals constant|poisson   (default constant)
        --max-outstanding N  in flight at most; later ones are skipped
                             and counted (default 1024)
      LEVELS is a list 1,2,4,8 or a range START:END[:STEP], STEP a number
      to add or xN to multiply by (default x2): 1:64 is 1,2,4,...,64.
      --streaming           ClassifyStream instead of Classify: closed loop,
                            one stream per unit of concurrency; open loop,
                            --streams N streams (default 1)
    MEASUREMENT:
      --warmup-s S          unmeasured load before each level (default 1)
      --window-ms N         measurement window (default 2000)
      --stable-windows N    windows that must agree (default 3)
      --stability PCT       on throughput and p50 within +-PCT% (default 10)
      --max-windows N       give up on stability after N (default 10)
      --duration-s S        instead: one window of S seconds per level
      --seed N              of the Poisson arrivals (default 1)
    --json is --format json. Exit 0 only when no request failed.

Connection options:
  --target ADDRESSES  host:port (default 127.0.0.1:50051); several, spread
                      round-robin: 127.0.0.1:50051,127.0.0.1:50052 or
                      ipv4:127.0.0.1:50051,127.0.0.1:50052; or a gRPC URI
                      such as dns:///gcnserve:50051 (round-robin over every
                      address the name resolves to)
  --deadline-ms N     deadline of every call (default 10000)
  --tls               TLS, trusting the system's roots
  --tls-ca FILE       TLS, trusting the PEM roots in FILE
  --tls-cert FILE --tls-key FILE   client certificate and key (mutual TLS)
  --tls-server-name NAME           name to check the certificate against
  --compression none|gzip|deflate  compress what is sent (default none)
  --max-message-bytes N            largest message sent or received
                                   (default 67108864)
  --no-progress       no progress line (it shows only on a terminal anyway)

Exit status: 0 when every request succeeded, 1 when any failed, 2 for a
usage error.
)";
  return kUsage;
}

}  // namespace gcnserve::gcnctl
