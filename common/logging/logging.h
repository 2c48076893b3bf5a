// Structured logging for every VirtualMLE process, on top of spdlog.
//
// Lines are logfmt (`ts=... level=info service=agent msg="..." study=st-1 trial=t-3`)
// so that they read well on a terminal and parse in Loki/Elasticsearch. Ids of studies
// and trials go in fields, never only in the message.
//
// Thread-safety: every function may be called from any thread after InitLogging.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"

namespace vmle::log {

enum class Level { kDebug, kInfo, kWarn, kError };

// One key=value field of a log line.
using Field = std::pair<std::string_view, std::string>;

// Sets the service name written on every line and the minimum level
// ("debug", "info", "warn", "error"). INVALID_ARGUMENT for an unknown level.
absl::Status InitLogging(std::string_view service, std::string_view level);

void Write(Level level, std::string_view message, std::initializer_list<Field> fields = {});

inline void Debug(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kDebug, m, f); }
inline void Info(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kInfo, m, f); }
inline void Warn(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kWarn, m, f); }
inline void Error(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kError, m, f); }

// Formats `key=value` pairs as logfmt (values quoted and escaped when needed).
std::string FormatFields(std::initializer_list<Field> fields);

}  // namespace vmle::log
