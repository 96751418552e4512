#include "server/base/flag_set.h"

#include <cstdint>

#include "absl/flags/reflection.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace gcnserve {
namespace {

// What a flag's type parses, in words, for a flag without a check.
std::string TypeAllowed(const absl::CommandLineFlag& flag) {
  if (flag.IsOfType<bool>()) return "true or false";
  if (flag.IsOfType<double>() || flag.IsOfType<float>()) return "a number";
  if (flag.IsOfType<int>() || flag.IsOfType<int64_t>() ||
      flag.IsOfType<uint32_t>() || flag.IsOfType<uint64_t>()) {
    return "an integer";
  }
  return "a value of its type";
}

// `text` in lines of at most `width` characters after `indent` spaces,
// broken at spaces (a longer word gets a line of its own).
std::string Wrap(absl::string_view text, size_t indent, size_t width) {
  std::string out, line;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (!line.empty() && indent + line.size() + 1 + word.size() > width) {
      absl::StrAppend(&out, std::string(indent, ' '), line, "\n");
      line.clear();
    }
    absl::StrAppend(&line, line.empty() ? "" : " ", word);
  }
  if (!line.empty())
    absl::StrAppend(&out, std::string(indent, ' '), line, "\n");
  return out;
}

}  // namespace

FlagSet& FlagSet::AddSeconds(const absl::Flag<double>& flag, double max) {
  // !(value >= 0) refuses NaN too.
  return Add(flag, absl::StrCat("seconds from 0 to ", max),
             [max](double value) { return value >= 0 && value <= max; });
}

FlagSet& FlagSet::AddChecked(const absl::CommandLineFlag& flag,
                             std::string allowed, std::function<bool()> ok) {
  // The reflection handle of an absl::Flag is const; ParseFrom needs the
  // registry's mutable one, the same object.
  absl::CommandLineFlag* mutable_flag = absl::FindCommandLineFlag(flag.Name());
  entries_.push_back(Entry{mutable_flag, CommandLineName(flag.Name()),
                           std::move(allowed), std::move(ok)});
  return *this;
}

const FlagSet::Entry* FlagSet::Find(absl::string_view name) const {
  const std::string hyphenated = CommandLineName(name);
  for (const Entry& entry : entries_) {
    if (entry.name == hyphenated) return &entry;
  }
  return nullptr;
}

absl::Status FlagSet::Set(const Entry& entry, absl::string_view value) const {
  std::string error;
  if (!entry.flag->ParseFrom(value, &error) || (entry.ok && !entry.ok())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", entry.name, "=", value, " is not allowed: ",
        entry.allowed.empty() ? TypeAllowed(*entry.flag) : entry.allowed));
  }
  return absl::OkStatus();
}

absl::StatusOr<ParsedArgs> FlagSet::Parse(
    const std::vector<std::string>& args,
    const std::function<const char*(const char*)>& getenv) const {
  ParsedArgs parsed;
  std::vector<std::pair<const Entry*, std::string>> values;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      parsed.help = true;
      return parsed;
    }
    if (arg == "--") {
      parsed.positional.insert(parsed.positional.end(), args.begin() + i + 1,
                               args.end());
      break;
    }
    if (!absl::StartsWith(arg, "--")) {
      parsed.positional.push_back(arg);
      continue;
    }
    const size_t eq = arg.find('=');
    const std::string name =
        arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const Entry* entry = Find(name);
    if (entry == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, "; see --help"));
    }
    if (eq != std::string::npos) {
      values.emplace_back(entry, arg.substr(eq + 1));
    } else if (entry->flag->IsOfType<bool>()) {
      values.emplace_back(entry, "true");
    } else if (i + 1 < args.size()) {
      values.emplace_back(entry, args[++i]);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --", entry->name, " needs a value"));
    }
    parsed.given.insert(entry->name);
  }
  if (!options_.positional && !parsed.positional.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unexpected argument '", parsed.positional.front(), "'; see --help"));
  }
  // From the defaults, so that a parse depends on its arguments and
  // environment alone, not on an earlier one (tests parse many times).
  for (const Entry& entry : entries_) {
    std::string error;
    entry.flag->ParseFrom(entry.flag->DefaultValue(), &error);
  }
  if (!options_.env_prefix.empty()) {
    for (const Entry& entry : entries_) {
      if (parsed.given.count(entry.name)) continue;  // the flag wins
      const std::string variable = EnvName(entry.flag->Name());
      if (const char* value = getenv(variable.c_str())) {
        if (absl::Status status = Set(entry, value); !status.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("from ", variable, ": ", status.message()));
        }
      }
    }
  }
  for (const auto& [entry, value] : values) {
    if (absl::Status status = Set(*entry, value); !status.ok()) return status;
  }
  return parsed;
}

std::string FlagSet::Help() const {
  std::string help;
  for (const Entry& entry : entries_) {
    const std::string variable = EnvName(entry.flag->Name());
    absl::StrAppend(&help, "  --", entry.name, " (", variable,
                    variable.empty() ? "" : ", ", "default \"",
                    entry.flag->DefaultValue(), "\")\n",
                    Wrap(entry.flag->Help(), 6, 79));
  }
  return help;
}

std::vector<std::string> FlagSet::Names() const {
  std::vector<std::string> names;
  for (const Entry& entry : entries_) names.push_back(entry.name);
  return names;
}

std::string FlagSet::CommandLineName(absl::string_view flag_name) {
  return absl::StrReplaceAll(flag_name, {{"_", "-"}});
}

std::string FlagSet::EnvName(absl::string_view flag_name) const {
  if (options_.env_prefix.empty()) return "";
  return absl::StrCat(options_.env_prefix, absl::AsciiStrToUpper(flag_name));
}

}  // namespace gcnserve
