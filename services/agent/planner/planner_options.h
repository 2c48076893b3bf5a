// Reading PlannerSpec.options (a string map) into typed planner options. Every error
// is INVALID_ARGUMENT naming the option as "planner.options.<key>" and saying what
// was expected, so a user can fix the study spec.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "vmle/v1/study.pb.h"

namespace vmle::agent {

class OptionReader {
 public:
  explicit OptionReader(const vmle::v1::PlannerSpec& spec) : spec_(spec) {}

  // Each reader leaves `*out` unchanged when the option is absent and records the key
  // as known. Bounds are inclusive.
  absl::Status Int(const std::string& key, int64_t min, int64_t max, int64_t* out);
  absl::Status Int(const std::string& key, int min, int max, int* out);
  // Bounds are exclusive when `open` is set: (min, max).
  absl::Status Double(const std::string& key, double min, double max, bool open, double* out);
  absl::Status Bool(const std::string& key, bool* out);
  // A comma-separated list of non-empty names (spaces around names are ignored).
  absl::Status List(const std::string& key, std::vector<std::string>* out);

  // INVALID_ARGUMENT naming the first option no reader asked for.
  absl::Status NoOthers() const;

 private:
  const std::string* Find(const std::string& key);
  absl::Status Bad(const std::string& key, const std::string& what) const;

  const vmle::v1::PlannerSpec& spec_;
  absl::flat_hash_set<std::string> known_;
};

}  // namespace vmle::agent
