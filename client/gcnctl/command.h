#ifndef GCNSERVE_CLIENT_GCNCTL_COMMAND_H_
#define GCNSERVE_CLIENT_GCNCTL_COMMAND_H_

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "client/classifier_client.h"
#include "google/protobuf/message.h"

namespace gcnserve::gcnctl {

// What a command is given besides the flags' values, which it reads from the
// flags (flags.h).
struct Invocation {
  std::vector<std::string> operands;  // the words after the command's name
  std::set<std::string> given;        // flags on the command line ("top-k")
  bool Given(const std::string& name) const { return given.count(name) > 0; }
};

// The commands (one file each). Each returns the exit status: 0 when every
// request succeeded, 1 when any failed, 2 for a usage error, with a message
// on stderr.
int Classify(ClassifierClient& client, const Invocation& invocation);
int Models(ClassifierClient& client, const Invocation& invocation);
int Health(ClassifierClient& client, const Invocation& invocation);
int Eval(ClassifierClient& client, const Invocation& invocation);
int Bench(ClassifierClient& client, const Invocation& invocation);

// What the commands share (command.cc).

// The whole file at `path` into `bytes`; false when it cannot be read.
bool ReadFile(const std::string& path, std::string& bytes);
// Whether to draw a progress line: on a terminal, unless --no-progress.
bool ShowProgress();
// A message as JSON with the proto's field names (README, "--json field
// names").
nlohmann::json ToJson(const google::protobuf::Message& message);

}  // namespace gcnserve::gcnctl

#endif  // GCNSERVE_CLIENT_GCNCTL_COMMAND_H_
