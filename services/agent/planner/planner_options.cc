#include "services/agent/planner/planner_options.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status/message.h"

namespace vmle::agent {

const std::string* OptionReader::Find(const std::string& key) {
  known_.insert(key);
  auto it = spec_.options().find(key);
  return it == spec_.options().end() ? nullptr : &it->second;
}

absl::Status OptionReader::Bad(const std::string& key, const std::string& what) const {
  return absl::InvalidArgumentError("planner.options." + key + ": " + what + " (planner " + spec_.name() + ")");
}

absl::Status OptionReader::Int(const std::string& key, int64_t min, int64_t max, int64_t* out) {
  const std::string* text = Find(key);
  if (text == nullptr) return absl::OkStatus();
  int64_t v = 0;
  if (!absl::SimpleAtoi(*text, &v) || v < min || v > max) {
    return Bad(key, "expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                        "], got \"" + TruncateForMessage(*text) + "\"");
  }
  *out = v;
  return absl::OkStatus();
}

absl::Status OptionReader::Int(const std::string& key, int min, int max, int* out) {
  int64_t v = *out;
  absl::Status s = Int(key, int64_t{min}, int64_t{max}, &v);
  if (s.ok()) *out = static_cast<int>(v);
  return s;
}

absl::Status OptionReader::Double(const std::string& key, double min, double max, bool open, double* out) {
  const std::string* text = Find(key);
  if (text == nullptr) return absl::OkStatus();
  double v = 0;
  // NaN fails every comparison: it is refused explicitly, as is any non-finite value.
  if (!absl::SimpleAtod(*text, &v) || !std::isfinite(v) || (open ? (v <= min || v >= max) : (v < min || v > max))) {
    const std::string lo = open ? "(" : "[";
    const std::string hi = open ? ")" : "]";
    return Bad(key, absl::StrFormat("expected a number in %s%g, %g%s, got \"%s\"", lo, min, max, hi,
                                      TruncateForMessage(*text)));
  }
  *out = v;
  return absl::OkStatus();
}

absl::Status OptionReader::Bool(const std::string& key, bool* out) {
  const std::string* text = Find(key);
  if (text == nullptr) return absl::OkStatus();
  if (!absl::SimpleAtob(*text, out)) return Bad(key, "expected true or false, got \"" + TruncateForMessage(*text) + "\"");
  return absl::OkStatus();
}

absl::Status OptionReader::List(const std::string& key, std::vector<std::string>* out) {
  const std::string* text = Find(key);
  if (text == nullptr) return absl::OkStatus();
  std::vector<std::string> names;
  for (absl::string_view part : absl::StrSplit(*text, ',')) {
    const std::string name(absl::StripAsciiWhitespace(part));
    if (name.empty()) return Bad(key, "expected a comma-separated list of names, got \"" + TruncateForMessage(*text) + "\"");
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      return Bad(key, "\"" + name + "\" is listed twice");
    }
    names.push_back(name);
  }
  *out = std::move(names);
  return absl::OkStatus();
}

absl::Status OptionReader::NoOthers() const {
  const std::map<std::string, std::string> sorted(spec_.options().begin(), spec_.options().end());
  for (const auto& [key, value] : sorted) {
    if (known_.contains(key)) continue;
    std::vector<std::string> known(known_.begin(), known_.end());
    std::sort(known.begin(), known.end());
    return Bad(key, known.empty() ? "this planner takes no options"
                                  : "unknown option; expected one of " + absl::StrJoin(known, ", "));
  }
  return absl::OkStatus();
}

}  // namespace vmle::agent
