// Small parsing helpers shared by the dataset readers. Internal.
//
// Thread-safety: functions are pure; KeyInterner is not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace vmle::trainer::internal {

// `text` without leading and trailing spaces and tabs.
std::string_view TrimSpaces(std::string_view text);

// `text` without a leading UTF-8 byte order mark.
std::string_view StripBom(std::string_view text);

// Parses all of `text` as a decimal integer >= 1 (no sign, no spaces).
bool ParsePositiveInt64(std::string_view text, int64_t* value);

// Parses all of `text` (spaces around it allowed) as a timestamp: a decimal
// integer, optionally signed, or a finite decimal/scientific number whose
// fractional part is truncated towards zero. False when neither or out of
// the int64 range.
bool ParseTimestamp(std::string_view text, int64_t* value);

// Maps distinct keys to dense indices 0, 1, 2, ... in order of first sight.
class KeyInterner {
 public:
  // Index of `key`, assigning the next one when new; -1 when the index space
  // (int32) is exhausted.
  int32_t Intern(std::string_view key);
  int32_t size() const { return static_cast<int32_t>(index_.size()); }

 private:
  std::unordered_map<std::string, int32_t> index_;
  std::string scratch_;  // reused lookup key; avoids an allocation per lookup
};

}  // namespace vmle::trainer::internal
