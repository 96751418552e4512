#ifndef GCNSERVE_CLIENT_GCNCTL_FLAGS_H_
#define GCNSERVE_CLIENT_GCNCTL_FLAGS_H_

#include <string>

#include "absl/flags/declare.h"
#include "server/base/flag_set.h"

// gcnctl's flags (flags.cc), Abseil flags read by gcnserve's FlagSet: on the
// command line --deadline-ms for deadline_ms. Each is checked as it is set
// (ranges, names), so the commands read values that are allowed; what one
// command accepts of them is its own (Command::flags in main.cc).

// Connection flags, which every command takes.
ABSL_DECLARE_FLAG(std::string, target);
ABSL_DECLARE_FLAG(int, deadline_ms);
ABSL_DECLARE_FLAG(bool, tls);
ABSL_DECLARE_FLAG(std::string, tls_ca);
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(std::string, tls_key);
ABSL_DECLARE_FLAG(std::string, tls_server_name);
ABSL_DECLARE_FLAG(std::string, compression);
ABSL_DECLARE_FLAG(int, max_message_bytes);
ABSL_DECLARE_FLAG(bool, no_progress);

// The commands' flags.
ABSL_DECLARE_FLAG(std::string, model);
ABSL_DECLARE_FLAG(int, version);
ABSL_DECLARE_FLAG(int, top_k);
ABSL_DECLARE_FLAG(std::string, graph);
ABSL_DECLARE_FLAG(int, max_edges);
ABSL_DECLARE_FLAG(bool, json);
ABSL_DECLARE_FLAG(std::string, overlay);
ABSL_DECLARE_FLAG(std::string, service);
ABSL_DECLARE_FLAG(std::string, concurrency);  // eval: N; bench: LEVELS
ABSL_DECLARE_FLAG(std::string, rate);
ABSL_DECLARE_FLAG(std::string, arrivals);
ABSL_DECLARE_FLAG(int, max_outstanding);
ABSL_DECLARE_FLAG(bool, streaming);
ABSL_DECLARE_FLAG(int, streams);
ABSL_DECLARE_FLAG(double, warmup_s);
ABSL_DECLARE_FLAG(int, window_ms);
ABSL_DECLARE_FLAG(int, stable_windows);
ABSL_DECLARE_FLAG(double, stability);  // percent
ABSL_DECLARE_FLAG(int, max_windows);
ABSL_DECLARE_FLAG(double, duration_s);
ABSL_DECLARE_FLAG(int, seed);
ABSL_DECLARE_FLAG(std::string, format);

namespace gcnserve::gcnctl {

// Every flag above with its check, no environment, words that are not flags
// taken (the command and its operands).
const FlagSet& Flags();

// The connection flags' command-line names ("deadline-ms").
bool IsConnectionFlag(const std::string& name);

// gcnctl --help: the commands, their flags, the connection flags, the exit
// status.
const char* Usage();

}  // namespace gcnserve::gcnctl

#endif  // GCNSERVE_CLIENT_GCNCTL_FLAGS_H_
