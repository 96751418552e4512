#include "server/app/server_options.h"

#include <cstdint>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/base/flag_set.h"
#include "server/base/status_macros.h"
#include "server/models/model_config.h"

#ifndef GCNSERVE_DEFAULT_REPOSITORY
#define GCNSERVE_DEFAULT_REPOSITORY "model/repository"
#endif

// The server's flags, private to this file: the server reads ServerOptions,
// which Parse fills from them. Defaults are ServerOptions' own.
using gcnserve::ServerOptions;

ABSL_FLAG(std::string, grpc_address, ServerOptions().grpc_address,
          "host:port to serve gRPC on; port 0 picks a free one");
ABSL_FLAG(std::string, metrics_address, ServerOptions().metrics_address,
          "host:port for Prometheus /metrics; empty turns metrics off");
ABSL_FLAG(std::string, http_address, ServerOptions().http_address,
          "host:port for HTTP: the JSON API (/v1/classify, /v1/models), "
          "/healthz, /readyz, KServe v2 (/v2/...) and the viewer at /; "
          "empty turns it off");
ABSL_FLAG(int, http_threads, ServerOptions().http_threads,
          "threads running the HTTP port's event loops (no thread waits for "
          "an answer); 0: one per usable core");
ABSL_FLAG(int, http_max_connections, ServerOptions().http_max_connections,
          "HTTP connections served at once; up to 256 past it are answered "
          "503 with Retry-After and closed, further ones wait to be accepted");
ABSL_FLAG(int, http_max_connections_per_address,
          ServerOptions().http_max_connections_per_address,
          "HTTP connections served at once from one client address (past it: "
          "503 with Retry-After, then closed); 0: no limit but "
          "--http-max-connections, as behind a proxy or a NAT, where every "
          "client has one address");
ABSL_FLAG(std::string, model_repository, GCNSERVE_DEFAULT_REPOSITORY,
          "folder of models, laid out <model>/<version>/model.pt");
ABSL_FLAG(std::string, default_model, ServerOptions().default_model,
          "model for requests that name none; empty: the model whose "
          "config.json says \"default\": true, else the first model by name");
ABSL_FLAG(int, max_batch_size, ServerOptions().max_batch_size,
          "largest batch the batcher forms (warmed up before SERVING); 0: "
          "each model's own, the largest worth forming by its warm-up timings "
          "on the CPU, 16 on CUDA");
ABSL_FLAG(int64_t, max_queue_delay_us, ServerOptions().max_queue_delay_us,
          "microseconds a request may wait for its batch to fill; 0: a free "
          "model takes what is queued at once (batches still fill under load)");
ABSL_FLAG(int64_t, batch_idle_spin_us, ServerOptions().batch_idle_spin_us,
          "microseconds a batch thread that ran out of work spins, yielding "
          "its core to other threads, before it sleeps, when the model's "
          "other instances are idle too: the next request of a light load "
          "finds it awake; 0: never spins");
ABSL_FLAG(int, max_queue_size, ServerOptions().max_queue_size,
          "requests queued per model before new ones get UNAVAILABLE");
ABSL_FLAG(std::string, device, ServerOptions().device,
          "where models run: cpu, cuda or cuda:N (a model's config.json may "
          "say otherwise)");
ABSL_FLAG(int, instances, ServerOptions().instances,
          "instances of each model, each running its own batches over one "
          "shared copy of the weights; 0: one per usable core on CPU (CPU "
          "affinity, capped by a cgroup CPU quota); one on CUDA");
ABSL_FLAG(int, intra_op_threads, ServerOptions().intra_op_threads,
          "LibTorch threads per instance's forward pass, fixed; 0: each "
          "instance's share of the usable cores, and where the warm-up timed a "
          "lone batch faster on every core, a lone batch on all of them");
ABSL_FLAG(int, preprocess_threads, ServerOptions().preprocess_threads,
          "threads that decode and resize images; 0: one per usable core "
          "(CPU affinity, capped by a cgroup CPU quota)");
ABSL_FLAG(int64_t, max_image_pixels, ServerOptions().max_image_pixels,
          "images with more pixels are refused before they are decoded");
ABSL_FLAG(int64_t, max_decode_bytes, ServerOptions().max_decode_bytes,
          "largest decode of one image, in bytes: width x height x channels x "
          "bytes per sample at the scale it is decoded at (JPEG and WebP "
          "shrink while decoding), read from the header; larger ones are "
          "refused (INVALID_ARGUMENT) before decoding");
ABSL_FLAG(int64_t, max_decode_bytes_in_flight,
          ServerOptions().max_decode_bytes_in_flight,
          "bytes of decoding that accepted requests may hold at once (queued "
          "or decoding); past it new requests get UNAVAILABLE at once instead "
          "of waiting. At least --max-decode-bytes");
ABSL_FLAG(int, max_message_bytes, ServerOptions().max_message_bytes,
          "largest gRPC message, or HTTP request body (else 413), accepted, "
          "in bytes");
ABSL_FLAG(int64_t, max_grpc_memory_bytes, ServerOptions().max_grpc_memory_bytes,
          "memory gRPC may use for its connections and buffers (a resource "
          "quota); past it gRPC reads less and refuses new streams");
ABSL_FLAG(int, max_streams_per_connection,
          ServerOptions().max_streams_per_connection,
          "calls one client connection may have open at once (HTTP/2 "
          "MAX_CONCURRENT_STREAMS); a client queues the rest");
ABSL_FLAG(double, max_connection_age_s, ServerOptions().max_connection_age_s,
          "seconds after which a client connection is asked to close (GOAWAY, "
          "+-10% jitter), so that clients resolve the name again and new "
          "replicas get load; 0: never");
ABSL_FLAG(double, max_connection_age_grace_s,
          ServerOptions().max_connection_age_grace_s,
          "seconds the calls still open on an aged connection get to finish "
          "before it is closed");
ABSL_FLAG(double, drain_grace_s, ServerOptions().drain_grace_s,
          "on SIGTERM or SIGINT, seconds during which health says NOT_SERVING "
          "and new requests get UNAVAILABLE before clients are sent away "
          "(GOAWAY), for load balancers to notice");
ABSL_FLAG(double, drain_timeout_s, ServerOptions().drain_timeout_s,
          "after the grace window, seconds to wait for queued and running "
          "requests and open streams before exiting");
ABSL_FLAG(double, repository_poll_s, ServerOptions().repository_poll_s,
          "seconds between scans of the model repository for new, changed or "
          "removed versions; 0 scans only at start and on SIGHUP");
ABSL_FLAG(int, drift_window_requests, ServerOptions().drift_window_requests,
          "answers each model version's drift summary keeps (the last N); "
          "fixed memory per version");
ABSL_FLAG(double, drift_window_s, ServerOptions().drift_window_s,
          "seconds an answer stays in the drift summary");
ABSL_FLAG(int, drift_min_requests, ServerOptions().drift_min_requests,
          "answers the drift summary must hold before gcnserve_drift_score is "
          "published; at most --drift-window-requests");
ABSL_FLAG(std::string, tls_cert, ServerOptions().tls_cert,
          "PEM certificate chain to serve gRPC and the HTTP port over TLS "
          "(with --tls-key); empty: plaintext. /metrics stays plain HTTP");
ABSL_FLAG(std::string, tls_key, ServerOptions().tls_key,
          "PEM private key of --tls-cert");
ABSL_FLAG(std::string, tls_client_ca, ServerOptions().tls_client_ca,
          "PEM roots; when set, gRPC clients must present a certificate they "
          "signed (mutual TLS). Needs --tls-cert, and --http-address empty");

namespace gcnserve {
namespace {

// host:port with a port from 0 to 65535 (or empty, where that turns a port
// off).
bool IsAddress(const std::string& value, bool may_be_empty) {
  if (value.empty()) return may_be_empty;
  const size_t colon = value.rfind(':');
  int port;
  return colon != std::string::npos && colon != 0 &&
         absl::SimpleAtoi(value.substr(colon + 1), &port) && port >= 0 &&
         port <= 65535;
}

// Every flag with the values it allows, in --help's order.
const FlagSet& ServerFlags() {
  constexpr char kAddress[] = "host:port with a port from 0 to 65535";
  static const FlagSet* flags = [&] {
    FlagSet::Options options;
    options.env_prefix = "GCNSERVE_";
    auto* set = new FlagSet(options);
    set->Add(FLAGS_grpc_address, kAddress,
             [](const std::string& v) { return IsAddress(v, false); })
        .Add(FLAGS_metrics_address, kAddress,
             [](const std::string& v) { return IsAddress(v, true); })
        .Add(FLAGS_http_address, kAddress,
             [](const std::string& v) { return IsAddress(v, true); })
        .AddInRange(FLAGS_http_threads, 0, 1024)
        .AddInRange(FLAGS_http_max_connections, 1, 1 << 20)
        .AddInRange(FLAGS_http_max_connections_per_address, 0, 1 << 20)
        .Add(FLAGS_model_repository, "a folder",
             [](const std::string& v) { return !v.empty(); })
        .Add(FLAGS_default_model)
        .AddInRange(FLAGS_max_batch_size, 0, 256)
        .AddInRange(FLAGS_max_queue_delay_us, int64_t{0}, int64_t{10'000'000})
        .AddInRange(FLAGS_batch_idle_spin_us, int64_t{0}, int64_t{100'000})
        .AddInRange(FLAGS_max_queue_size, 1, 1'000'000)
        .Add(FLAGS_device, "cpu, cuda or cuda:N", IsDeviceName)
        .AddInRange(FLAGS_instances, 0, 64)
        .AddInRange(FLAGS_intra_op_threads, 0, 1024)
        .AddInRange(FLAGS_preprocess_threads, 0, 1024)
        .AddInRange(FLAGS_max_image_pixels, int64_t{1}, int64_t{1} << 32)
        .AddInRange(FLAGS_max_decode_bytes, int64_t{1} << 10, int64_t{1} << 40)
        .AddInRange(FLAGS_max_decode_bytes_in_flight, int64_t{1} << 10,
                    int64_t{1} << 42)
        .AddInRange(FLAGS_max_message_bytes, 1024, 1 << 30)
        .AddInRange(FLAGS_max_grpc_memory_bytes, int64_t{16} << 20,
                    int64_t{1} << 40)
        .AddInRange(FLAGS_max_streams_per_connection, 1, 1 << 20)
        .AddSeconds(FLAGS_max_connection_age_s, 30 * 86400)
        .AddSeconds(FLAGS_max_connection_age_grace_s, 86400)
        .AddSeconds(FLAGS_drain_grace_s, 3600)
        .AddSeconds(FLAGS_drain_timeout_s, 3600)
        .AddSeconds(FLAGS_repository_poll_s, 86400)
        .AddInRange(FLAGS_drift_window_requests, 1, 1'000'000)
        .AddSeconds(FLAGS_drift_window_s, 7 * 86400)
        .AddInRange(FLAGS_drift_min_requests, 1, 1'000'000)
        .Add(FLAGS_tls_cert)
        .Add(FLAGS_tls_key)
        .Add(FLAGS_tls_client_ca);
    return set;
  }();
  return *flags;
}

ServerOptions FromFlags() {
  ServerOptions o;
  o.grpc_address = absl::GetFlag(FLAGS_grpc_address);
  o.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  o.http_address = absl::GetFlag(FLAGS_http_address);
  o.http_threads = absl::GetFlag(FLAGS_http_threads);
  o.http_max_connections = absl::GetFlag(FLAGS_http_max_connections);
  o.http_max_connections_per_address =
      absl::GetFlag(FLAGS_http_max_connections_per_address);
  o.model_repository = absl::GetFlag(FLAGS_model_repository);
  o.default_model = absl::GetFlag(FLAGS_default_model);
  o.max_batch_size = absl::GetFlag(FLAGS_max_batch_size);
  o.max_queue_delay_us = absl::GetFlag(FLAGS_max_queue_delay_us);
  o.batch_idle_spin_us = absl::GetFlag(FLAGS_batch_idle_spin_us);
  o.max_queue_size = absl::GetFlag(FLAGS_max_queue_size);
  o.device = absl::GetFlag(FLAGS_device);
  o.instances = absl::GetFlag(FLAGS_instances);
  o.intra_op_threads = absl::GetFlag(FLAGS_intra_op_threads);
  o.preprocess_threads = absl::GetFlag(FLAGS_preprocess_threads);
  o.max_image_pixels = absl::GetFlag(FLAGS_max_image_pixels);
  o.max_decode_bytes = absl::GetFlag(FLAGS_max_decode_bytes);
  o.max_decode_bytes_in_flight = absl::GetFlag(FLAGS_max_decode_bytes_in_flight);
  o.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  o.max_grpc_memory_bytes = absl::GetFlag(FLAGS_max_grpc_memory_bytes);
  o.max_streams_per_connection = absl::GetFlag(FLAGS_max_streams_per_connection);
  o.max_connection_age_s = absl::GetFlag(FLAGS_max_connection_age_s);
  o.max_connection_age_grace_s = absl::GetFlag(FLAGS_max_connection_age_grace_s);
  o.drain_grace_s = absl::GetFlag(FLAGS_drain_grace_s);
  o.drain_timeout_s = absl::GetFlag(FLAGS_drain_timeout_s);
  o.repository_poll_s = absl::GetFlag(FLAGS_repository_poll_s);
  o.drift_window_requests = absl::GetFlag(FLAGS_drift_window_requests);
  o.drift_window_s = absl::GetFlag(FLAGS_drift_window_s);
  o.drift_min_requests = absl::GetFlag(FLAGS_drift_min_requests);
  o.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  o.tls_key = absl::GetFlag(FLAGS_tls_key);
  o.tls_client_ca = absl::GetFlag(FLAGS_tls_client_ca);
  return o;
}

// What no single flag's check can see: flags that must agree.
absl::Status CheckTogether(const ServerOptions& options) {
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
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<ServerOptions>> ServerOptions::Parse(
    const std::vector<std::string>& args,
    const std::function<const char*(const char*)>& getenv) {
  GCN_ASSIGN_OR_RETURN(ParsedArgs parsed, ServerFlags().Parse(args, getenv));
  if (parsed.help) return std::optional<ServerOptions>();
  ServerOptions options = FromFlags();
  GCN_RETURN_IF_ERROR(CheckTogether(options));
  return std::optional<ServerOptions>(options);
}

std::string ServerOptions::Help() {
  std::string help =
      "gcnserve: serves graph-convolution image classifiers over gRPC and\n"
      "HTTP (JSON, KServe v2, and a viewer at http://HOST:8000/).\n\n"
      "Usage: gcnserve [--flag=value | --flag value]...\n\n"
      "Every flag can also be set by the environment variable shown; a flag\n"
      "wins over its variable. Bad values stop the server with a message.\n\n";
  absl::StrAppend(
      &help, ServerFlags().Help(),
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
