#ifndef GCNSERVE_SERVER_APP_SERVER_OPTIONS_H_
#define GCNSERVE_SERVER_APP_SERVER_OPTIONS_H_

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gcnserve {

// Everything the server can be told at start (README.md, "Running it by
// hand"; docs/design.md).
// Each field is a flag `--name` and an environment variable `GCNSERVE_NAME`;
// a flag wins over the variable.
struct ServerOptions {
  std::string grpc_address = "0.0.0.0:50051";  // host:port
  std::string metrics_address = "0.0.0.0:9464";  // host:port; empty = off
  // host:port of the HTTP port (JSON API, KServe v2, viewer); empty = off.
  std::string http_address = "0.0.0.0:8000";
  // The HTTP port's event-loop threads (0: one per usable core), and the
  // connections it serves at once, in all and from one client address (0:
  // no limit; behind a proxy every client has the proxy's address). Past
  // them up to 256 more are answered 503 with Retry-After and closed
  // (HttpServer).
  int http_threads = 0;
  int http_max_connections = 4096;
  int http_max_connections_per_address = 0;
  std::string model_repository;  // default: the bundled repository
  // Empty: the model whose config.json says "default": true, else the first
  // by name.
  std::string default_model;
  // 0: each model's own, chosen from its warm-up timings on the CPU (the
  // largest batch worth forming; ModelConfig, bench/README.md), 16 on CUDA.
  int max_batch_size = 0;
  int64_t max_queue_delay_us = 0;  // 0: an idle model never waits
  // How long a batch thread that ran out of work, the model's other
  // instances idle, spins before it sleeps (Batcher::Options::idle_spin);
  // 0: never spins.
  int64_t batch_idle_spin_us = 500;
  // Also the preprocess pool's backlog. 512 holds a proxy's 512 requests at
  // once without a refusal (docs/design.md, "HTTP").
  int max_queue_size = 512;
  std::string device = "cpu";
  // Instances of each model (a model's config.json may say otherwise);
  // 0: one per core on CPU, one on CUDA (ModelConfig::Instances).
  int instances = 0;
  int intra_op_threads = 0;       // per instance; 0: cores / instances
  int preprocess_threads = 0;  // 0: one per usable core (PreprocessThreads)
  int64_t max_image_pixels = 50'000'000;
  // Decode budgets, in bytes decoded (width x height x channels x bytes per
  // sample at the scale actually decoded, from the header): per image
  // (INVALID_ARGUMENT past it), and across every accepted request not yet
  // decoded (UNAVAILABLE past it, at once). A 12 MP camera JPEG
  // decoded whole in colour takes 36.6 MB; a 7000x7000 RGBA 16-bit PNG
  // 392 MB.
  int64_t max_decode_bytes = int64_t{128} << 20;
  int64_t max_decode_bytes_in_flight = int64_t{256} << 20;
  int max_message_bytes = 16 << 20;
  // The gRPC edge (server/app/server.cc, GuardGrpcEdge): memory gRPC may
  // use for its buffers (a resource quota), streams one connection may have
  // open at once, and the age after which a connection is asked to go
  // (GOAWAY) so that clients resolve the name again and reach new replicas;
  // calls in flight then get the grace period to finish.
  int64_t max_grpc_memory_bytes = int64_t{1} << 30;
  int max_streams_per_connection = 256;
  double max_connection_age_s = 300;  // 0: connections live for ever
  double max_connection_age_grace_s = 30;
  double drain_timeout_s = 10;   // after the grace window
  // On SIGTERM, seconds during which health says NOT_SERVING and new
  // requests get UNAVAILABLE before clients are sent away (GOAWAY), for load
  // balancers to notice.
  double drain_grace_s = 0;
  double repository_poll_s = 0;   // 0: scan only at start and on SIGHUP
  // Each served version's drift window (DriftMonitor::Options): its last
  // drift_window_requests answers, none older than drift_window_s; no score
  // is published while it holds fewer than drift_min_requests.
  int drift_window_requests = 1000;
  double drift_window_s = 600;
  int drift_min_requests = 200;
  // gRPC and the HTTP port over TLS: PEM certificate chain and private key
  // (both or neither; neither: plaintext). With tls_client_ca as well, gRPC
  // clients must present a certificate signed by one of its PEM roots
  // (mutual TLS); the HTTP port cannot check one, so it must be off then.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;

  // Reads `args` (without the program name) over the environment given by
  // `getenv` into the server's Abseil flags (server_options.cc, through
  // FlagSet), then checks every value. Returns nullopt inside the StatusOr
  // when --help was asked. INVALID_ARGUMENT names the flag at fault, or the
  // variable ("from GCNSERVE_MAX_BATCH_SIZE: ..."). Each parse starts from
  // the defaults, so parses do not leak into each other; not thread-safe.
  static absl::StatusOr<std::optional<ServerOptions>> Parse(
      const std::vector<std::string>& args,
      const std::function<const char*(const char*)>& getenv);

  // The --help text: every flag, its variable, default and meaning.
  static std::string Help();

  // Threads that decode on `cores` usable cores (UsableCores):
  // preprocess_threads, or when 0 one per core. Photos spend several times
  // longer decoding than in the forward pass (a 1920x1080 JPEG 2.4 ms, the
  // default model's batch-1 forward 0.7), so a fixed two threads would cap a
  // large machine's photo throughput at two cores' decoding.
  int PreprocessThreads(int cores) const {
    return preprocess_threads > 0 ? preprocess_threads : std::max(cores, 1);
  }
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_APP_SERVER_OPTIONS_H_
