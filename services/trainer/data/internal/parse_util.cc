#include "services/trainer/data/internal/parse_util.h"

#include <charconv>
#include <cmath>
#include <limits>

namespace vmle::trainer::internal {

std::string_view TrimSpaces(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::string_view StripBom(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  return text;
}

bool ParsePositiveInt64(std::string_view text, int64_t* value) {
  if (text.empty() || text.front() < '0' || text.front() > '9') return false;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  return ec == std::errc() && ptr == end && *value >= 1;
}

bool ParseTimestamp(std::string_view text, int64_t* value) {
  text = TrimSpaces(text);
  if (text.empty()) return false;
  std::string_view digits = text;
  if (digits.front() == '+') digits.remove_prefix(1);
  const char* end = digits.data() + digits.size();
  auto [ptr, ec] = std::from_chars(digits.data(), end, *value);
  if (ec == std::errc() && ptr == end) return true;
  double number = 0;
  auto [dptr, dec] = std::from_chars(digits.data(), end, number);
  if (dec != std::errc() || dptr != end || !std::isfinite(number)) return false;
  number = std::trunc(number);
  // 2^63 is exactly representable; anything at or beyond it does not fit.
  constexpr double kLimit = 9223372036854775808.0;
  if (number >= kLimit || number < -kLimit) return false;
  *value = static_cast<int64_t>(number);
  return true;
}

int32_t KeyInterner::Intern(std::string_view key) {
  scratch_.assign(key.data(), key.size());
  const auto found = index_.find(scratch_);
  if (found != index_.end()) return found->second;
  if (index_.size() >= static_cast<size_t>(std::numeric_limits<int32_t>::max())) return -1;
  const int32_t next = static_cast<int32_t>(index_.size());
  index_.emplace(scratch_, next);
  return next;
}

}  // namespace vmle::trainer::internal
