// gcnctl: the command-line client of gcnserve. Reads the flags (flags.h),
// connects, and hands over to the command named (one file each).
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "client/classifier_client.h"
#include "client/gcnctl/command.h"
#include "client/gcnctl/flags.h"

namespace gcnserve::gcnctl {
namespace {

struct Command {
  const char* name;
  // The flags it takes besides the connection flags; any other given is a
  // usage error rather than silently ignored.
  std::set<std::string> flags;
  int (*run)(ClassifierClient& client, const Invocation& invocation);
};

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"classify",
       {"model", "version", "top-k", "graph", "max-edges", "json", "overlay"},
       Classify},
      {"models", {"json"}, Models},
      {"health", {"service"}, Health},
      {"eval", {"model", "version", "concurrency", "json"}, Eval},
      {"bench",
       {"model", "version", "graph", "top-k", "concurrency", "rate", "arrivals",
        "max-outstanding", "streaming", "streams", "warmup-s", "window-ms",
        "stable-windows", "stability", "max-windows", "duration-s", "seed",
        "format", "json"},
       Bench},
  };
  return *commands;
}

ClientOptions ConnectionOptions() {
  ClientOptions options;
  options.target = absl::GetFlag(FLAGS_target);
  options.deadline_ms = absl::GetFlag(FLAGS_deadline_ms);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.compression = *ParseCompression(absl::GetFlag(FLAGS_compression));
  options.tls.enabled = absl::GetFlag(FLAGS_tls);
  options.tls.ca_file = absl::GetFlag(FLAGS_tls_ca);
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls.server_name = absl::GetFlag(FLAGS_tls_server_name);
  return options;
}

int Main(int argc, char** argv) {
  auto parsed = Flags().Parse(std::vector<std::string>(argv + 1, argv + argc),
                              /*getenv=*/nullptr);
  if (!parsed.ok()) {
    std::cerr << "gcnctl: " << parsed.status().message() << "\n";
    return 2;
  }
  if (parsed->help || parsed->positional.empty()) {
    std::cout << Usage();
    return parsed->help ? 0 : 2;
  }
  const std::string& name = parsed->positional.front();
  const Command* command = nullptr;
  for (const Command& c : Commands()) {
    if (name == c.name) command = &c;
  }
  if (command == nullptr) {
    std::cerr << "gcnctl: unknown command '" << name << "'; see --help\n";
    return 2;
  }
  for (const std::string& flag : parsed->given) {
    if (!IsConnectionFlag(flag) && !command->flags.count(flag)) {
      std::cerr << "gcnctl " << name << ": unknown option --" << flag
                << "; see --help\n";
      return 2;
    }
  }
  auto client = ClassifierClient::Create(ConnectionOptions());
  if (!client.ok()) {
    std::cerr << "gcnctl: " << client.status().message() << "\n";
    return 2;
  }
  Invocation invocation{
      {parsed->positional.begin() + 1, parsed->positional.end()},
      parsed->given};
  return command->run(**client, invocation);
}

}  // namespace
}  // namespace gcnserve::gcnctl

int main(int argc, char** argv) { return gcnserve::gcnctl::Main(argc, argv); }
