#include "client/gcnctl/command.h"

#include <google/protobuf/util/json_util.h>

#include <fstream>
#include <sstream>

#include "absl/flags/flag.h"
#include "client/gcnctl/flags.h"
#include "client/progress.h"

namespace gcnserve::gcnctl {

bool ReadFile(const std::string& path, std::string& bytes) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  bytes = text.str();
  return static_cast<bool>(in);
}

bool ShowProgress() {
  return !absl::GetFlag(FLAGS_no_progress) && Progress::StderrIsTerminal();
}

nlohmann::json ToJson(const google::protobuf::Message& message) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  google::protobuf::util::MessageToJsonString(message, &text, options);
  return nlohmann::json::parse(text);
}

}  // namespace gcnserve::gcnctl
