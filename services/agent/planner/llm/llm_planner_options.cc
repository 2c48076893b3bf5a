// Options of the llm and opro planners, their LLM client and the factory builders.
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/agent/llm/http_llm_client.h"
#include "services/agent/llm/transcript.h"
#include "services/agent/planner/llm/llm_planner.h"
#include "services/agent/planner/planner_options.h"

namespace vmle::agent {
namespace {

absl::Status BadOption(const std::string& key, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("planner.options.", key, ": ", what));
}

// Options a study may not set: where the planner calls and what it reads or writes
// is the operator's (llm/llm_endpoints.h).
absl::Status RefuseOperatorOptions(const vmle::v1::PlannerSpec& spec) {
  static const std::pair<const char*, const char*> kOperatorOnly[] = {
      {"base_url", "names a URL"},
      {"api_key_env", "names an environment variable"},
      {"api_key_file", "names a file"},
      {"transcript", "names a file (the agent records every LLM study under its --transcript_dir)"},
      {"timeout_seconds", "is a limit of the endpoint"},
      {"max_attempts", "is a limit of the endpoint"}};
  for (const auto& [key, why] : kOperatorOnly) {
    if (spec.options().contains(key)) {
      return BadOption(key, absl::StrCat(why, "; LLM endpoints are operator configuration (the agent's "
                                              "--llm_endpoints_file): pick one with planner.options.endpoint"));
    }
  }
  return absl::OkStatus();
}

// Moves the string options out of `rest` (OptionReader reads numbers and lists only).
void TakeStrings(vmle::v1::PlannerSpec& rest, LlmPlannerOptions& options) {
  const std::pair<const char*, std::string*> keys[] = {
      {"endpoint", &options.endpoint}, {"model", &options.model}, {"replay", &options.replay}};
  auto& map = *rest.mutable_options();
  for (const auto& [key, field] : keys) {
    if (auto it = map.find(key); it != map.end()) {
      *field = it->second;
      map.erase(it);
    }
  }
}

template <typename Make>
absl::StatusOr<std::unique_ptr<Planner>> Build(const vmle::v1::PlannerSpec& spec, const PlannerEnvironment& environment,
                                               std::unique_ptr<Planner> fallback, Make make) {
  absl::StatusOr<LlmPlannerOptions> options = ParseLlmPlannerOptions(spec);
  if (!options.ok()) return options.status();
  if (fallback == nullptr) return absl::InternalError("the llm planner needs a fallback planner");
  absl::StatusOr<std::unique_ptr<llm::LlmClient>> client = MakeLlmClient(*options, environment);
  if (!client.ok()) return client.status();
  return std::unique_ptr<Planner>(make(LlmPlannerParts{*std::move(client), std::move(fallback), options->max_repairs}));
}

}  // namespace

absl::StatusOr<LlmPlannerOptions> ParseLlmPlannerOptions(const vmle::v1::PlannerSpec& spec) {
  if (absl::Status s = RefuseOperatorOptions(spec); !s.ok()) return s;
  LlmPlannerOptions options;
  vmle::v1::PlannerSpec rest = spec;
  TakeStrings(rest, options);
  OptionReader reader(rest);
  for (absl::Status s : {reader.Double("temperature", 0, 2, false, &options.temperature),
                         reader.Int("max_repairs", 0, 10, &options.max_repairs), reader.NoOthers()}) {
    if (!s.ok()) return s;
  }
  if (!options.replay.empty() && !llm::IsTranscriptId(options.replay)) {
    return BadOption("replay", "expected the id of the study whose transcript to replay");
  }
  if (!options.endpoint.empty() && !llm::IsTranscriptId(options.endpoint)) {
    return BadOption("endpoint", "expected the name of an endpoint the operator configured");
  }
  return options;
}

absl::StatusOr<std::unique_ptr<llm::LlmClient>> MakeLlmClient(const LlmPlannerOptions& options,
                                                             const PlannerEnvironment& environment) {
  static const llm::LlmConfig kNone;
  const llm::LlmConfig& config = environment.llm != nullptr ? *environment.llm : kNone;
  if (!options.replay.empty()) {
    absl::StatusOr<std::string> path = llm::TranscriptPath(config, options.replay);
    if (!path.ok()) return BadOption("replay", path.status().message());
    absl::StatusOr<std::unique_ptr<llm::ReplayLlmClient>> replay = llm::ReplayLlmClient::Open(*path);
    if (absl::IsNotFound(replay.status())) {
      return BadOption("replay", absl::StrCat("no transcript of study ", options.replay, " on this agent"));
    }
    if (!replay.ok()) return BadOption("replay", absl::StrCat("the transcript of study ", options.replay, " is unreadable"));
    return std::unique_ptr<llm::LlmClient>(*std::move(replay));
  }
  absl::StatusOr<const llm::LlmEndpoint*> endpoint = llm::FindLlmEndpoint(config, options.endpoint);
  if (!endpoint.ok()) return endpoint.status();
  absl::StatusOr<std::string> model = llm::PickLlmModel(**endpoint, options.model);
  if (!model.ok()) return model.status();
  absl::StatusOr<std::string> key = llm::ResolveApiKey((*endpoint)->api_key_env, (*endpoint)->api_key_file);
  if (!key.ok()) {
    return BadOption("endpoint", absl::StrCat("the API key of endpoint ", (*endpoint)->name,
                                              " cannot be read (operator configuration)"));
  }
  llm::HttpLlmClientOptions http;
  http.base_url = (*endpoint)->base_url;
  http.model = *model;
  http.temperature = options.temperature;
  http.timeout = (*endpoint)->timeout;
  http.max_attempts = (*endpoint)->max_attempts;
  http.api_key = *std::move(key);
  http.registry = environment.registry;
  http.cancel = environment.cancel;
  absl::StatusOr<std::unique_ptr<llm::HttpLlmClient>> client = llm::HttpLlmClient::Create(std::move(http));
  if (!client.ok()) return BadOption("endpoint", client.status().message());
  if (environment.study_id.empty() || config.transcript_dir.empty()) {
    return std::unique_ptr<llm::LlmClient>(*std::move(client));
  }
  absl::StatusOr<std::string> path = llm::TranscriptPath(config, environment.study_id);
  if (!path.ok()) return absl::InternalError(absl::StrCat("transcript: ", path.status().message()));
  absl::StatusOr<std::unique_ptr<llm::RecordingLlmClient>> recording =
      llm::RecordingLlmClient::Create(*std::move(client), *path);
  if (!recording.ok()) {
    return absl::FailedPreconditionError("the agent cannot write the study's transcript under its --transcript_dir");
  }
  return std::unique_ptr<llm::LlmClient>(*std::move(recording));
}

absl::StatusOr<std::unique_ptr<Planner>> MakeLlmPlanner(const vmle::v1::PlannerSpec& spec,
                                                        const PlannerEnvironment& environment,
                                                        std::unique_ptr<Planner> fallback) {
  return Build(spec, environment, std::move(fallback),
               [](LlmPlannerParts parts) { return std::make_unique<LlmPlanner>(std::move(parts)); });
}

absl::StatusOr<std::unique_ptr<Planner>> MakeOproPlanner(const vmle::v1::PlannerSpec& spec,
                                                         const PlannerEnvironment& environment,
                                                         std::unique_ptr<Planner> fallback) {
  return Build(spec, environment, std::move(fallback),
               [](LlmPlannerParts parts) { return std::make_unique<OproPlanner>(std::move(parts)); });
}

}  // namespace vmle::agent
