#include "server/app/server_options.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "server/base/status_macros.h"
#include "server/models/model_config.h"

#ifndef GCNSERVE_DEFAULT_REPOSITORY
#define GCNSERVE_DEFAULT_REPOSITORY "model/repository"
#endif

namespace gcnserve {
namespace {

// One flag: its name, what it means, and how it reads a value into options.
struct Flag {
  const char* name;
  const char* help;
  std::function<absl::Status(ServerOptions&, const std::string&)> set;
  std::function<std::string(const ServerOptions&)> get;
};

absl::Status Bad(const std::string& flag, const std::string& value,
                 const std::string& allowed) {
  return absl::InvalidArgumentError(absl::StrCat(
      "--", flag, "=", value, " is not allowed: ", allowed));
}

template <typename T>
Flag Integer(const char* name, const char* help, T ServerOptions::*field,
             T min, T max) {
  return Flag{
      name, help,
      [=](ServerOptions& o, const std::string& v) {
        int64_t parsed;
        if (!absl::SimpleAtoi(v, &parsed) || parsed < min || parsed > max) {
          return Bad(name, v, absl::StrCat("an integer from ", min, " to ", max));
        }
        o.*field = static_cast<T>(parsed);
        return absl::OkStatus();
      },
      [=](const ServerOptions& o) { return absl::StrCat(o.*field); }};
}

Flag Seconds(const char* name, const char* help, double ServerOptions::*field,
             double max) {
  return Flag{
      name, help,
      [=](ServerOptions& o, const std::string& v) {
        double parsed;
        if (!absl::SimpleAtod(v, &parsed) || !(parsed >= 0) || parsed > max) {
          return Bad(name, v, absl::StrCat("seconds from 0 to ", max));
        }
        o.*field = parsed;
        return absl::OkStatus();
      },
      [=](const ServerOptions& o) { return absl::StrCat(o.*field); }};
}

absl::Status CheckAddress(const char* name, const std::string& v,
                          bool may_be_empty) {
  if (v.empty() && may_be_empty) return absl::OkStatus();
  size_t colon = v.rfind(':');
  int port;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(v.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return Bad(name, v, "host:port with a port from 0 to 65535");
  }
  return absl::OkStatus();
}

Flag Text(const char* name, const char* help, std::string ServerOptions::*field,
          std::function<absl::Status(const std::string&)> check) {
  return Flag{name, help,
              [=](ServerOptions& o, const std::string& v) {
                if (check) GCN_RETURN_IF_ERROR(check(v));
                o.*field = v;
                return absl::OkStatus();
              },
              [=](const ServerOptions& o) { return o.*field; }};
}

const std::vector<Flag>& Flags() {
  static const auto* flags = new std::vector<Flag>{
      Text("grpc-address", "host:port to serve gRPC on; port 0 picks a free one",
           &ServerOptions::grpc_address,
           [](const std::string& v) { return CheckAddress("grpc-address", v, false); }),
      Text("metrics-address",
           "host:port for Prometheus /metrics; empty turns metrics off",
           &ServerOptions::metrics_address,
           [](const std::string& v) { return CheckAddress("metrics-address", v, true); }),
      Text("http-address",
           "host:port for HTTP: the JSON API (/v1/classify, /v1/models), "
           "/healthz, /readyz, KServe v2 (/v2/...) and the viewer at /; "
           "empty turns it off",
           &ServerOptions::http_address,
           [](const std::string& v) { return CheckAddress("http-address", v, true); }),
      Text("model-repository",
           "folder of models, laid out <model>/<version>/model.pt",
           &ServerOptions::model_repository,
           [](const std::string& v) {
             return v.empty() ? Bad("model-repository", v, "a folder") : absl::OkStatus();
           }),
      Text("default-model",
           "model for requests that name none; empty: the model whose "
           "config.json says \"default\": true, else the first model by name",
           &ServerOptions::default_model, nullptr),
      Integer("max-batch-size",
              "largest batch the batcher forms (warmed up before SERVING)",
              &ServerOptions::max_batch_size, 1, 256),
      Integer("max-queue-delay-us",
              "microseconds a request may wait for its batch to fill; 0: a free "
              "model takes what is queued at once (batches still fill under load)",
              &ServerOptions::max_queue_delay_us, int64_t{0}, int64_t{10'000'000}),
      Integer("batch-idle-spin-us",
              "microseconds a batch thread that ran out of work spins, "
              "yielding its core to other threads, before it sleeps, when the "
              "model's other instances are idle too: the next request of a "
              "light load finds it awake; 0: never spins",
              &ServerOptions::batch_idle_spin_us, int64_t{0}, int64_t{100'000}),
      Integer("max-queue-size",
              "requests queued per model before new ones get UNAVAILABLE",
              &ServerOptions::max_queue_size, 1, 1'000'000),
      Text("device",
           "where models run: cpu, cuda or cuda:N (a model's config.json may "
           "say otherwise)",
           &ServerOptions::device,
           [](const std::string& v) {
             return IsDeviceName(v) ? absl::OkStatus()
                                    : Bad("device", v, "cpu, cuda or cuda:N");
           }),
      Integer("instances",
              "copies of each model, each running its own batches; 0: one "
              "per usable core on CPU (CPU affinity, capped by a cgroup CPU "
              "quota), with one LibTorch thread each; one on CUDA",
              &ServerOptions::instances, 0, 64),
      Integer("intra-op-threads",
              "LibTorch threads per instance's forward pass; 0: the cores "
              "divided among the instances",
              &ServerOptions::intra_op_threads, 0, 1024),
      Integer("preprocess-threads",
              "threads that decode and resize images; 0: one per usable core "
              "(CPU affinity, capped by a cgroup CPU quota)",
              &ServerOptions::preprocess_threads, 0, 1024),
      Integer("max-image-pixels",
              "images with more pixels are refused before they are decoded",
              &ServerOptions::max_image_pixels, int64_t{1}, int64_t{1} << 32),
      Integer("max-decode-bytes",
              "largest decode of one image, in bytes: width x height x "
              "channels x bytes per sample at the scale it is decoded at "
              "(JPEG and WebP shrink while decoding), read from the header; "
              "larger ones are refused (INVALID_ARGUMENT) before decoding",
              &ServerOptions::max_decode_bytes, int64_t{1} << 10,
              int64_t{1} << 40),
      Integer("max-decode-bytes-in-flight",
              "bytes of decoding that accepted requests may hold at once "
              "(queued or decoding); past it new requests get "
              "UNAVAILABLE at once instead of waiting. At least "
              "--max-decode-bytes",
              &ServerOptions::max_decode_bytes_in_flight, int64_t{1} << 10,
              int64_t{1} << 42),
      Integer("max-message-bytes",
              "largest gRPC message, or HTTP request body (else 413), "
              "accepted, in bytes",
              &ServerOptions::max_message_bytes, 1024, 1 << 30),
      Integer("max-grpc-memory-bytes",
              "memory gRPC may use for its connections and buffers (a "
              "resource quota); past it gRPC reads less and refuses new "
              "streams",
              &ServerOptions::max_grpc_memory_bytes, int64_t{16} << 20,
              int64_t{1} << 40),
      Integer("max-streams-per-connection",
              "calls one client connection may have open at once (HTTP/2 "
              "MAX_CONCURRENT_STREAMS); a client queues the rest",
              &ServerOptions::max_streams_per_connection, 1, 1 << 20),
      Seconds("max-connection-age-s",
              "seconds after which a client connection is asked to close "
              "(GOAWAY, +-10% jitter), so that clients resolve the name "
              "again and new replicas get load; 0: never",
              &ServerOptions::max_connection_age_s, 30 * 86400),
      Seconds("max-connection-age-grace-s",
              "seconds the calls still open on an aged connection get to "
              "finish before it is closed",
              &ServerOptions::max_connection_age_grace_s, 86400),
      Seconds("drain-grace-s",
              "on SIGTERM or SIGINT, seconds during which health says "
              "NOT_SERVING and new requests get UNAVAILABLE before clients are "
              "sent away (GOAWAY), for load balancers to notice",
              &ServerOptions::drain_grace_s, 3600),
      Seconds("drain-timeout-s",
              "after the grace window, seconds to wait for queued and running "
              "requests and open streams before exiting",
              &ServerOptions::drain_timeout_s, 3600),
      Seconds("repository-poll-s",
              "seconds between scans of the model repository for new, changed "
              "or removed versions; 0 scans only at start and on SIGHUP",
              &ServerOptions::repository_poll_s, 86400),
      Integer("drift-window-requests",
              "answers each model version's drift summary keeps (the last "
              "N); fixed memory per version",
              &ServerOptions::drift_window_requests, 1, 1'000'000),
      Seconds("drift-window-s",
              "seconds an answer stays in the drift summary",
              &ServerOptions::drift_window_s, 7 * 86400),
      Integer("drift-min-requests",
              "answers the drift summary must hold before "
              "gcnserve_drift_score is published; at most "
              "--drift-window-requests",
              &ServerOptions::drift_min_requests, 1, 1'000'000),
      Text("tls-cert",
           "PEM certificate chain to serve gRPC and the HTTP port over TLS "
           "(with --tls-key); empty: plaintext. /metrics stays plain HTTP",
           &ServerOptions::tls_cert, nullptr),
      Text("tls-key", "PEM private key of --tls-cert", &ServerOptions::tls_key,
           nullptr),
      Text("tls-client-ca",
           "PEM roots; when set, gRPC clients must present a certificate "
           "they signed (mutual TLS). Needs --tls-cert, and --http-address "
           "empty",
           &ServerOptions::tls_client_ca, nullptr),
  };
  return *flags;
}

std::string EnvName(const std::string& flag) {
  return "GCNSERVE_" +
         absl::AsciiStrToUpper(absl::StrReplaceAll(flag, {{"-", "_"}}));
}

ServerOptions Defaults() {
  ServerOptions options;
  options.model_repository = GCNSERVE_DEFAULT_REPOSITORY;
  return options;
}

}  // namespace

absl::StatusOr<std::optional<ServerOptions>> ServerOptions::Parse(
    const std::vector<std::string>& args,
    const std::function<const char*(const char*)>& getenv) {
  ServerOptions options = Defaults();
  for (const Flag& flag : Flags()) {
    if (const char* value = getenv(EnvName(flag.name).c_str())) {
      absl::Status status = flag.set(options, value);
      if (!status.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "from ", EnvName(flag.name), ": ", status.message()));
      }
    }
  }
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") return std::optional<ServerOptions>();
    if (arg.rfind("--", 0) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", arg, "'; see --help"));
    }
    size_t eq = arg.find('=');
    std::string name = arg.substr(2, eq == std::string::npos ? eq : eq - 2);
    auto flag = std::find_if(Flags().begin(), Flags().end(),
                             [&](const Flag& f) { return name == f.name; });
    if (flag == Flags().end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, "; see --help"));
    }
    std::string value;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --", name, " needs a value"));
    }
    GCN_RETURN_IF_ERROR(flag->set(options, value));
  }
  if (options.max_decode_bytes_in_flight < options.max_decode_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max-decode-bytes-in-flight=", options.max_decode_bytes_in_flight,
        " is not allowed: at least --max-decode-bytes (",
        options.max_decode_bytes, "), or an image within the per-image limit "
        "could never be decoded"));
  }
  if (options.drift_min_requests > options.drift_window_requests) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--drift-min-requests=", options.drift_min_requests,
        " is not allowed: at most --drift-window-requests (",
        options.drift_window_requests, "), or no score would ever be "
        "published"));
  }
  if (!(options.drift_window_s > 0)) {
    return absl::InvalidArgumentError(
        "--drift-window-s=0 is not allowed: the window must be positive");
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key go together: give both, or neither for "
        "plaintext");
  }
  if (!options.tls_client_ca.empty() && options.tls_cert.empty()) {
    return absl::InvalidArgumentError(
        "--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS");
  }
  if (!options.tls_client_ca.empty() && !options.http_address.empty()) {
    return absl::InvalidArgumentError(
        "--tls-client-ca: the HTTP port cannot require client certificates; "
        "turn it off with --http-address= (GCNSERVE_HTTP_ADDRESS=) to use "
        "mutual TLS");
  }
  return std::optional<ServerOptions>(options);
}

std::string ServerOptions::Help() {
  std::string help =
      "gcnserve: serves graph-convolution image classifiers over gRPC and\n"
      "HTTP (JSON, KServe v2, and a viewer at http://HOST:8000/).\n\n"
      "Usage: gcnserve [--flag=value]...\n\n"
      "Every flag can also be set by the environment variable shown; a flag\n"
      "wins over its variable. Bad values stop the server with a message.\n\n";
  const ServerOptions defaults = Defaults();
  for (const Flag& flag : Flags()) {
    absl::StrAppend(&help, "  --", flag.name, " (", EnvName(flag.name),
                    ", default \"", flag.get(defaults), "\")\n      ",
                    flag.help, "\n");
  }
  absl::StrAppend(
      &help,
      "\nModel repository: <repository>/<model>/<version>/model.pt, version a\n"
      "positive integer, and an optional <repository>/<model>/config.json that\n"
      "overrides the defaults above for that model with the keys\n"
      "max_batch_size, max_queue_delay_us, max_queue_size, instances,\n"
      "intra_op_threads, device, optimize (false: run the TorchScript module\n"
      "as saved instead of frozen and optimized for inference at load),\n"
      "version_policy ({\"latest\": N}, the N newest versions that load, the\n"
      "default being 1, or {\"versions\": [..]}) and default (true: the\n"
      "default model). Unknown keys and bad values are refused, naming the\n"
      "file and key.\n"
      "\nReload: on SIGHUP, and every --repository-poll-s seconds when set, the\n"
      "repository is scanned: new versions are loaded and warmed up before they\n"
      "take traffic, then requests for the newest version move to them; a\n"
      "version no longer wanted stops taking requests, finishes the ones it\n"
      "has, then unloads once no request holds it. A version that fails to load\n"
      "is FAILED in ListModels (with the version serving instead), the next\n"
      "older one is loaded in its place, and it is tried again when its file\n"
      "changes and on every SIGHUP. A version in memory serves until its\n"
      "replacement is ready, even when its folder was removed.\n"
      "\nSignals: SIGTERM or SIGINT drains: health NOT_SERVING and new requests\n"
      "UNAVAILABLE for --drain-grace-s, then clients are sent away (GOAWAY),\n"
      "accepted requests finish and open streams end (UNAVAILABLE) within\n"
      "--drain-timeout-s, and it exits 0. SIGHUP reloads.\n");
  return help;
}

}  // namespace gcnserve
