// gcnserve: serves graph-convolution image classifiers over gRPC.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <pthread.h>
#include <sys/resource.h>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "server/app/server.h"
#include "server/app/server_options.h"
#include "server/base/allocator.h"
#include "server/base/log.h"

int main(int argc, char** argv) {
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's
  // deadlock detection on: every lock of gRPC's mutexes then updates a
  // global lock graph (1-2 % of the server's throughput at 64 in flight;
  // bench/README.md). A release build of Abseil has it off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Block the signals in every thread (threads inherit the mask); this
  // thread takes them with sigwait once the server runs.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto options = gcnserve::ServerOptions::Parse(
      std::vector<std::string>(argv + 1, argv + argc), std::getenv);
  if (!options.ok()) {
    std::fprintf(stderr, "gcnserve: %s\n",
                 std::string(options.status().message()).c_str());
    return 2;
  }
  if (!options->has_value()) {
    std::fputs(gcnserve::ServerOptions::Help().c_str(), stdout);
    return 0;
  }
  gcnserve::Log("memory allocator: ", gcnserve::AllocatorDescription());
  // Every HTTP connection holds a descriptor, and the soft limit is often
  // 1024 (systemd's default) where the hard one is far higher: take the
  // hard one, as a server that means to hold a proxy's connections must.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  const rlim_t wanted =
      static_cast<rlim_t>((*options)->http_max_connections) + 256 + 256;
  if (!(*options)->http_address.empty() && getrlimit(RLIMIT_NOFILE, &files) == 0 &&
      files.rlim_cur < wanted) {
    gcnserve::Log("open files are limited to ", files.rlim_cur, " (ulimit -n), "
                  "fewer than --http-max-connections needs (", wanted,
                  "): the HTTP port holds no more connections than that");
  }
  auto server = gcnserve::Server::Create(**options);
  if (!server.ok()) {
    gcnserve::Log("gcnserve: cannot start: ", server.status().message());
    return 1;
  }
  int signal = 0;
  for (;;) {
    sigwait(&signals, &signal);
    if (signal != SIGHUP) break;
    gcnserve::Log("received SIGHUP: reloading the model repository");
    (*server)->RequestReload();
  }
  gcnserve::Log("received ", signal == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->Shutdown();
  return 0;
}
