#include "server/base/bounded_json.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "server/base/bounded_text.h"

namespace gcnserve {
namespace {

// nlohmann's SAX interface: counts depth and values, builds nothing, and
// returns false (which stops the parser) at the first value past a limit.
class LimitChecker {
 public:
  explicit LimitChecker(const JsonLimits& limits) : limits_(limits) {}

  bool null() { return Value(); }
  bool boolean(bool) { return Value(); }
  bool number_integer(nlohmann::json::number_integer_t) { return Value(); }
  bool number_unsigned(nlohmann::json::number_unsigned_t) { return Value(); }
  bool number_float(nlohmann::json::number_float_t, const std::string&) {
    return Value();
  }
  bool string(std::string&) { return Value(); }
  bool binary(nlohmann::json::binary_t&) { return Value(); }
  bool key(std::string&) { return true; }
  bool start_object(std::size_t) { return Open(); }
  bool end_object() { return Close(); }
  bool start_array(std::size_t) { return Open(); }
  bool end_array() { return Close(); }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::json::exception& error) {
    status_ = absl::InvalidArgumentError(absl::StrCat(
        "the body is not valid JSON (byte ", position, "): ",
        BoundStatusMessage(error.what())));
    return false;
  }

  const absl::Status& status() const { return status_; }

 private:
  bool Value() {
    if (++values_ <= limits_.max_values) return true;
    status_ = absl::InvalidArgumentError(absl::StrCat(
        "the JSON body holds more than ", limits_.max_values, " values"));
    return false;
  }
  bool Open() {
    if (!Value()) return false;
    if (++depth_ <= limits_.max_depth) return true;
    status_ = absl::InvalidArgumentError(absl::StrCat(
        "the JSON body nests deeper than ", limits_.max_depth,
        " arrays and objects"));
    return false;
  }
  bool Close() {
    --depth_;
    return true;
  }

  const JsonLimits& limits_;
  int depth_ = 0;
  int64_t values_ = 0;
  absl::Status status_;
};

}  // namespace

absl::Status CheckJson(std::string_view text, const JsonLimits& limits) {
  LimitChecker checker(limits);
  bool ok = nlohmann::json::sax_parse(text, &checker,
                                      nlohmann::json::input_format_t::json,
                                      /*strict=*/true);
  if (ok) return absl::OkStatus();
  if (!checker.status().ok()) return checker.status();
  return absl::InvalidArgumentError("the body is not valid JSON");
}

absl::StatusOr<nlohmann::json> ParseBoundedJson(std::string_view text,
                                                const JsonLimits& limits) {
  if (absl::Status checked = CheckJson(text, limits); !checked.ok()) {
    return checked;
  }
  nlohmann::json parsed =
      nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::InvalidArgumentError("the body is not valid JSON");
  }
  return parsed;
}

}  // namespace gcnserve
