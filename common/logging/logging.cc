#include "common/logging/logging.h"

#include <memory>
#include <mutex>

#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace vmle::log {
namespace {

std::shared_ptr<spdlog::logger>& Logger() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = std::make_shared<spdlog::logger>(
        "vmle", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern("ts=%Y-%m-%dT%H:%M:%S.%eZ level=%l service=vmle %v", spdlog::pattern_time_type::utc);
    return l;
  }();
  return logger;
}

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      return true;
    }
  }
  return false;
}

void AppendValue(std::string& out, std::string_view v) {
  if (!NeedsQuotes(v)) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (char c : v) {
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\t': out.append("\\t"); break;
      case '\r': out.append("\\r"); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out.push_back('?');
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

spdlog::level::level_enum ToSpd(Level level) {
  switch (level) {
    case Level::kDebug: return spdlog::level::debug;
    case Level::kInfo: return spdlog::level::info;
    case Level::kWarn: return spdlog::level::warn;
    case Level::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

absl::Status InitLogging(std::string_view service, std::string_view level) {
  Level parsed;
  if (level == "debug") {
    parsed = Level::kDebug;
  } else if (level == "info") {
    parsed = Level::kInfo;
  } else if (level == "warn" || level == "warning") {
    parsed = Level::kWarn;
  } else if (level == "error") {
    parsed = Level::kError;
  } else {
    return absl::InvalidArgumentError("--log_level: unknown level '" + std::string(level) +
                                      "'; use debug, info, warn or error");
  }
  std::string svc;
  AppendValue(svc, service);
  Logger()->set_pattern("ts=%Y-%m-%dT%H:%M:%S.%eZ level=%l service=" + svc + " %v",
                        spdlog::pattern_time_type::utc);
  Logger()->set_level(ToSpd(parsed));
  Logger()->flush_on(spdlog::level::info);
  return absl::OkStatus();
}

std::string FormatFields(std::initializer_list<Field> fields) {
  std::string out;
  for (const auto& [key, value] : fields) {
    if (!out.empty()) out.push_back(' ');
    out.append(key);
    out.push_back('=');
    AppendValue(out, value);
  }
  return out;
}

void Write(Level level, std::string_view message, std::initializer_list<Field> fields) {
  const auto spd = ToSpd(level);
  if (!Logger()->should_log(spd)) return;
  std::string line = "msg=";
  AppendValue(line, message);
  if (fields.size() > 0) {
    line.push_back(' ');
    line.append(FormatFields(fields));
  }
  Logger()->log(spd, line);
}

}  // namespace vmle::log
