// Request values quoted in error messages are cut: a status message never repeats
// unbounded input (a 70 KB field would overflow the callers' metadata limits).
#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace vmle {

inline constexpr size_t kMaxQuotedBytes = 200;

// `value` itself when it is at most `max_bytes` long, else its first bytes up to a
// UTF-8 character boundary followed by "... (N bytes)".
inline std::string TruncateForMessage(absl::string_view value, size_t max_bytes = kMaxQuotedBytes) {
  if (value.size() <= max_bytes) return std::string(value);
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat(value.substr(0, cut), "... (", value.size(), " bytes)");
}

}  // namespace vmle
