#ifndef GCNSERVE_SERVER_BASE_FLAG_SET_H_
#define GCNSERVE_SERVER_BASE_FLAG_SET_H_

#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace gcnserve {

// What a command line said besides the flags' values, which it set in the
// flags themselves.
struct ParsedArgs {
  bool help = false;  // --help or -h was given; parsing stopped there
  std::vector<std::string> positional;  // the words that are not flags
  // The flags given on the command line, by their command-line names
  // ("max-batch-size"); not those set from the environment.
  std::set<std::string> given;
};

// The flags one program reads, each an Abseil flag (ABSL_FLAG) with an
// optional check of its value, and the one parser of gcnserve's and gcnctl's
// command lines.
//
// A flag defined as `ABSL_FLAG(int, max_batch_size, ...)` is
// `--max-batch-size` on the command line (underscores as hyphens; the
// underscore spelling is accepted too), given as `--max-batch-size=16` or
// `--max-batch-size 16`; a bool flag alone (`--json`) is true. A flag given
// twice keeps the last value; `--` ends the flags. With an environment
// prefix, each flag not on the command line is read from the variable
// prefix + its name in capitals (GCNSERVE_MAX_BATCH_SIZE): a flag wins over
// its variable.
//
// Not absl::ParseCommandLine, which in this Abseil (Debian's 20220623)
// exits on a bad flag and on --help, both with status 1; knows only the
// identifiers' spelling (--max_batch_size); reads no prefixed variables
// (--fromenv reads FLAGS_name); and takes every flag linked into the binary,
// Abseil's own --flagfile included, where a program should take its own.
//
// Parse sets process-wide flags, each from its default first, so that one
// parse does not leak into the next (tests parse many times); it is not
// thread-safe. On an error the flags may hold some of the new values. (Not
// absl::FlagSaver around each parse: Debian's Abseil logs a line for every
// flag it restores.)
class FlagSet {
 public:
  struct Options {
    // Prefix of the variables that set flags ("GCNSERVE_"); empty: none.
    std::string env_prefix;
    // Whether words that are not flags are taken (gcnctl's command and its
    // files) or refused ("unexpected argument").
    bool positional = false;
  };

  explicit FlagSet(Options options) : options_(std::move(options)) {}

  // Adds `flag`, which takes whatever its type parses.
  template <typename T>
  FlagSet& Add(const absl::Flag<T>& flag) {
    return AddChecked(absl::GetFlagReflectionHandle(flag), "", nullptr);
  }

  // Adds `flag`, whose value must satisfy `ok(const T&)`; `allowed` says in
  // words what does ("cpu, cuda or cuda:N"), for the error message.
  template <typename T, typename Check>
  FlagSet& Add(const absl::Flag<T>& flag, std::string allowed, Check ok) {
    return AddChecked(absl::GetFlagReflectionHandle(flag), std::move(allowed),
                      [&flag, ok] { return ok(absl::GetFlag(flag)); });
  }

  // Adds an integer flag whose value must lie in [min, max].
  template <typename T>
  FlagSet& AddInRange(const absl::Flag<T>& flag, T min, T max) {
    return Add(flag, absl::StrCat("an integer from ", min, " to ", max),
               [min, max](T value) { return value >= min && value <= max; });
  }

  // Adds a flag of seconds from 0 to `max`.
  FlagSet& AddSeconds(const absl::Flag<double>& flag, double max);

  // Reads `args` (without the program's name) into the flags, over their
  // defaults and the variables that `getenv` finds for the flags `args`
  // does not give.
  // INVALID_ARGUMENT names the flag at fault: "--max-batch-size=0 is not
  // allowed: an integer from 1 to 256", with "from GCNSERVE_MAX_BATCH_SIZE: "
  // before it when the value came from there; "unknown flag --x; see
  // --help"; "flag --x needs a value"; "unexpected argument 'x'; see --help".
  absl::StatusOr<ParsedArgs> Parse(
      const std::vector<std::string>& args,
      const std::function<const char*(const char*)>& getenv) const;

  // --help's lines, a flag each in the order added:
  //   --max-batch-size (GCNSERVE_MAX_BATCH_SIZE, default "16")
  //       its help, wrapped to fit 79 columns
  std::string Help() const;

  // The command-line names of the flags, in the order added.
  std::vector<std::string> Names() const;

  // "max-batch-size" for the flag max_batch_size.
  static std::string CommandLineName(absl::string_view flag_name);
  // "GCNSERVE_MAX_BATCH_SIZE" for it; empty without a prefix.
  std::string EnvName(absl::string_view flag_name) const;

 private:
  struct Entry {
    absl::CommandLineFlag* flag;
    std::string name;          // on the command line
    std::string allowed;       // in words; empty: what the type parses
    std::function<bool()> ok;  // of the value the flag holds; null: any
  };

  FlagSet& AddChecked(const absl::CommandLineFlag& flag, std::string allowed,
                      std::function<bool()> ok);
  const Entry* Find(absl::string_view name) const;
  // Sets the entry's flag from `value`, or says why not.
  absl::Status Set(const Entry& entry, absl::string_view value) const;

  Options options_;
  std::vector<Entry> entries_;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_BASE_FLAG_SET_H_
