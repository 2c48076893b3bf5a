// LLM endpoints are operator configuration, never study options (README "LLM
// endpoints"). The agent and `vmle tune` read them from --llm_endpoints_file, a YAML
// or JSON document:
//
//   endpoints:
//     - name: local                       # what a study names (planner.options.endpoint)
//       base_url: http://vllm:8000/v1     # "/chat/completions" is appended
//       models: [qwen2.5-7b-instruct]     # the models a study may pick; the first is the default
//       api_key_env: OPENAI_API_KEY       # the key, from this variable of the agent's environment,
//       api_key_file: /run/secrets/key    #   or from this file (wins); neither: no key
//       timeout_seconds: 120              # one HTTP attempt
//       max_attempts: 4                   # attempts per call (retries of timeouts, 429, 5xx)
//
// Transcripts of LLM studies are written by the agent under its own --transcript_dir,
// one file per study, named by the agent after the study id (TranscriptPath); a study
// replays another one's transcript by naming that study's id.
#pragma once

#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace vmle::agent::llm {

struct LlmEndpoint {
  std::string name;
  std::string base_url;
  // Allowed models, the first being the default. Never empty once parsed.
  std::vector<std::string> models;
  std::string api_key_env;
  std::string api_key_file;
  absl::Duration timeout = absl::Seconds(120);
  int max_attempts = 4;
};

// What the operator configured for the llm and opro planners.
struct LlmConfig {
  std::vector<LlmEndpoint> endpoints;
  // Where the agent writes and reads transcripts ("" = none are written and replay is
  // unavailable).
  std::string transcript_dir;
};

// The endpoints of a YAML or JSON document as above. INVALID_ARGUMENT naming the
// endpoint and the field for a missing, malformed, duplicate or unknown one.
absl::StatusOr<std::vector<LlmEndpoint>> ParseLlmEndpoints(const std::string& text);
// The same, read from the file at `path` (operator input: the message names it).
absl::StatusOr<std::vector<LlmEndpoint>> LoadLlmEndpoints(const std::string& path);

// The endpoint a study names; an empty name picks the only endpoint. INVALID_ARGUMENT
// naming planner.options.endpoint when there is none, several or no such one.
absl::StatusOr<const LlmEndpoint*> FindLlmEndpoint(const LlmConfig& config, absl::string_view name);

// Stores an operator's transcript (JSON lines, checked first) as `id` in the
// transcript directory, for studies to replay by that id; returns its exchanges.
// FAILED_PRECONDITION without a transcript directory; INVALID_ARGUMENT naming `id`
// (not 1 to 64 characters of [A-Za-z0-9_-], or starting with "st-", the agent's own
// transcripts) or `jsonl` (empty, or the line that does not parse); ALREADY_EXISTS
// for an id that is taken. The file is created without following links and appears
// whole or not at all.
absl::StatusOr<int> StoreTranscript(const LlmConfig& config, absl::string_view id, const std::string& jsonl);

// The model a study picks on `endpoint`: "" is the endpoint's default; anything else
// must be on its allow list (INVALID_ARGUMENT naming planner.options.model).
absl::StatusOr<std::string> PickLlmModel(const LlmEndpoint& endpoint, absl::string_view model);

// Whether `study_id` can name a transcript: 1 to 64 characters of [A-Za-z0-9_-], so
// the file it names stays inside the transcript directory.
bool IsTranscriptId(absl::string_view study_id);

// Creates the transcript directory when missing ("" = none: OK). FAILED_PRECONDITION
// when it cannot be created or is not a directory.
absl::Status PrepareTranscriptDir(const std::string& dir);

// <transcript_dir>/<study_id>.jsonl. INVALID_ARGUMENT when no transcript directory is
// configured or `study_id` is not IsTranscriptId; FAILED_PRECONDITION when that file
// is a symbolic link (the agent reads and appends only files it wrote).
absl::StatusOr<std::string> TranscriptPath(const LlmConfig& config, absl::string_view study_id);

}  // namespace vmle::agent::llm
