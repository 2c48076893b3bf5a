#include "services/agent/llm/llm_endpoints.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status/status_macros.h"
#include "services/agent/llm/transcript.h"
#include "yaml-cpp/yaml.h"

namespace vmle::agent::llm {
namespace {

absl::Status Bad(absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("llm endpoints: ", where, ": ", what));
}

absl::StatusOr<std::string> Text(const YAML::Node& node, const std::string& where) {
  if (!node.IsScalar()) return Bad(where, "expected a string");
  return node.as<std::string>();
}

absl::StatusOr<LlmEndpoint> ParseEndpoint(const YAML::Node& node, const std::string& where) {
  if (!node.IsMap()) return Bad(where, "expected a map");
  LlmEndpoint e;
  for (const auto& field : node) {
    const std::string key = field.first.as<std::string>();
    const std::string at = absl::StrCat(where, ".", key);
    const YAML::Node& value = field.second;
    if (key == "name" || key == "base_url" || key == "api_key_env" || key == "api_key_file") {
      absl::StatusOr<std::string> s = Text(value, at);
      if (!s.ok()) return s.status();
      (key == "name"           ? e.name
       : key == "base_url"     ? e.base_url
       : key == "api_key_env"  ? e.api_key_env
                               : e.api_key_file) = *s;
    } else if (key == "models") {
      if (!value.IsSequence()) return Bad(at, "expected a list of model names");
      for (const auto& m : value) {
        absl::StatusOr<std::string> s = Text(m, at);
        if (!s.ok()) return s.status();
        if (s->empty()) return Bad(at, "a model name is empty");
        e.models.push_back(*s);
      }
    } else if (key == "timeout_seconds") {
      double seconds = 0;
      if (!value.IsScalar() || !YAML::convert<double>::decode(value, seconds) || !std::isfinite(seconds) ||
          seconds <= 0 || seconds > 3600) {
        return Bad(at, "expected a number of seconds in (0, 3600]");
      }
      e.timeout = absl::Seconds(seconds);
    } else if (key == "max_attempts") {
      int attempts = 0;
      if (!value.IsScalar() || !YAML::convert<int>::decode(value, attempts) || attempts < 1 || attempts > 10) {
        return Bad(at, "expected an integer in [1, 10]");
      }
      e.max_attempts = attempts;
    } else {
      return Bad(at, "unknown field; expected name, base_url, models, api_key_env, api_key_file, "
                     "timeout_seconds, max_attempts");
    }
  }
  if (e.name.empty()) return Bad(where, "name is required");
  if (!IsTranscriptId(e.name)) return Bad(where, "name: expected 1 to 64 characters of [A-Za-z0-9_-]");
  if (!absl::StartsWith(e.base_url, "http://") && !absl::StartsWith(e.base_url, "https://")) {
    return Bad(absl::StrCat(where, ".base_url"), "expected an http:// or https:// URL");
  }
  if (e.models.empty()) return Bad(absl::StrCat(where, ".models"), "at least one model is required");
  return e;
}

}  // namespace

absl::StatusOr<std::vector<LlmEndpoint>> ParseLlmEndpoints(const std::string& text) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Bad("document", absl::StrCat("not YAML or JSON (line ", e.mark.line + 1, ")"));
  }
  if (!root.IsMap() || !root["endpoints"] || !root["endpoints"].IsSequence()) {
    return Bad("document", "expected a map with a list \"endpoints\"");
  }
  for (const auto& field : root) {
    if (field.first.as<std::string>() != "endpoints") return Bad("document", "only \"endpoints\" is allowed at the top");
  }
  std::vector<LlmEndpoint> out;
  std::set<std::string> names;
  try {
    for (const auto& node : root["endpoints"]) {
      absl::StatusOr<LlmEndpoint> e = ParseEndpoint(node, absl::StrCat("endpoints[", out.size(), "]"));
      if (!e.ok()) return e.status();
      if (!names.insert(e->name).second) return Bad(absl::StrCat("endpoints[", out.size(), "].name"), "duplicate name");
      out.push_back(*std::move(e));
    }
  } catch (const YAML::Exception& e) {
    return Bad("document", absl::StrCat("malformed at line ", e.mark.line + 1));
  }
  if (out.empty()) return Bad("endpoints", "at least one endpoint is required");
  return out;
}

absl::StatusOr<std::vector<LlmEndpoint>> LoadLlmEndpoints(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--llm_endpoints_file: cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  absl::StatusOr<std::vector<LlmEndpoint>> endpoints = ParseLlmEndpoints(text.str());
  if (!endpoints.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--llm_endpoints_file ", path, ": ", endpoints.status().message()));
  }
  return endpoints;
}

absl::StatusOr<const LlmEndpoint*> FindLlmEndpoint(const LlmConfig& config, absl::string_view name) {
  std::vector<std::string> names;
  for (const LlmEndpoint& e : config.endpoints) {
    if (e.name == name) return &e;
    names.push_back(e.name);
  }
  if (config.endpoints.empty()) {
    return absl::InvalidArgumentError(
        "planner.options.endpoint: this agent has no LLM endpoint configured (operator flag --llm_endpoints_file)");
  }
  if (name.empty()) {
    if (config.endpoints.size() == 1) return &config.endpoints.front();
    return absl::InvalidArgumentError(
        absl::StrCat("planner.options.endpoint: required, the agent has several: ", absl::StrJoin(names, ", ")));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("planner.options.endpoint: no such endpoint; expected one of ", absl::StrJoin(names, ", ")));
}

absl::StatusOr<std::string> PickLlmModel(const LlmEndpoint& endpoint, absl::string_view model) {
  if (model.empty()) return endpoint.models.front();
  for (const std::string& m : endpoint.models) {
    if (m == model) return m;
  }
  return absl::InvalidArgumentError(absl::StrCat("planner.options.model: not allowed on endpoint ", endpoint.name,
                                                 "; expected one of ", absl::StrJoin(endpoint.models, ", ")));
}

bool IsTranscriptId(absl::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

absl::Status PrepareTranscriptDir(const std::string& dir) {
  if (dir.empty()) return absl::OkStatus();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir, ec)) {
    return absl::FailedPreconditionError(absl::StrCat("--transcript_dir ", dir, ": cannot create the directory"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> TranscriptPath(const LlmConfig& config, absl::string_view study_id) {
  if (config.transcript_dir.empty()) {
    return absl::InvalidArgumentError("no transcript directory is configured (operator flag --transcript_dir)");
  }
  if (!IsTranscriptId(study_id)) return absl::InvalidArgumentError("expected a study id");
  std::string path = absl::StrCat(config.transcript_dir, "/", study_id, ".jsonl");
  // Only files the agent wrote itself: a link placed in the directory could point
  // the agent at any file to read or append to.
  std::error_code ec;
  if (std::filesystem::is_symlink(std::filesystem::symlink_status(path, ec))) {
    return absl::FailedPreconditionError(
        absl::StrCat("the transcript of ", study_id, " is a symbolic link; transcripts are the agent's own files"));
  }
  return path;
}

absl::StatusOr<int> StoreTranscript(const LlmConfig& config, absl::string_view id, const std::string& jsonl) {
  if (config.transcript_dir.empty()) {
    return absl::FailedPreconditionError("no transcript directory is configured (operator flag --transcript_dir)");
  }
  if (!IsTranscriptId(id)) return absl::InvalidArgumentError("id: expected 1 to 64 characters of [A-Za-z0-9_-]");
  if (absl::StartsWith(id, "st-")) {
    return absl::InvalidArgumentError("id: names starting with \"st-\" are the agent's own study transcripts");
  }
  std::istringstream in(jsonl);
  ASSIGN_OR_RETURN(std::vector<Exchange> exchanges, ParseTranscript(in, "jsonl"));
  if (exchanges.empty()) return absl::InvalidArgumentError("jsonl: holds no exchange");
  const std::string path = absl::StrCat(config.transcript_dir, "/", id, ".jsonl");
  const std::string staged = absl::StrCat(config.transcript_dir, "/.upload-", id, "-", ::getpid(), ".tmp");
  const int fd = ::open(staged.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot stage the transcript ", id, ": ", std::strerror(errno)));
  bool written = true;
  for (size_t done = 0; written && done < jsonl.size();) {
    const ssize_t n = ::write(fd, jsonl.data() + done, jsonl.size() - done);
    written = n > 0;
    done += written ? static_cast<size_t>(n) : 0;
  }
  written = written && ::fsync(fd) == 0;
  ::close(fd);
  // link() never replaces: an id that exists (a file or a link) stays as it was.
  const int linked = written ? ::link(staged.c_str(), path.c_str()) : -1;
  const int link_error = errno;
  ::unlink(staged.c_str());
  if (!written) return absl::InternalError(absl::StrCat("cannot write the transcript ", id));
  if (linked != 0 && link_error == EEXIST) {
    return absl::AlreadyExistsError(absl::StrCat("id: a transcript ", id, " exists already; upload under a new id"));
  }
  if (linked != 0) return absl::InternalError(absl::StrCat("cannot store the transcript ", id, ": ", std::strerror(link_error)));
  return static_cast<int>(exchanges.size());
}

}  // namespace vmle::agent::llm
