// Options of the llm and opro planners, their LLM client and the factory builders.
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/agent/llm/http_llm_client.h"
#include "services/agent/llm/transcript.h"
#include "services/agent/planner/llm_planner.h"
#include "services/agent/planner/planner_factory.h"
#include "services/agent/planner/planner_options.h"

namespace vmle::agent {
namespace {

absl::Status BadOption(const std::string& key, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("planner.options.", key, ": ", what));
}

// Moves the string options out of `rest` (OptionReader reads numbers and lists only).
void TakeStrings(vmle::v1::PlannerSpec& rest, LlmPlannerOptions& options) {
  const std::pair<const char*, std::string*> keys[] = {
      {"base_url", &options.base_url},       {"model", &options.model},
      {"api_key_env", &options.api_key_env}, {"api_key_file", &options.api_key_file},
      {"transcript", &options.transcript},   {"replay", &options.replay}};
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
                                               Make make) {
  absl::StatusOr<LlmPlannerOptions> options = ParseLlmPlannerOptions(spec);
  if (!options.ok()) return options.status();
  absl::StatusOr<std::unique_ptr<llm::LlmClient>> client = MakeLlmClient(*options, environment.registry, environment.cancel);
  if (!client.ok()) return client.status();
  vmle::v1::PlannerSpec fallback_spec;
  fallback_spec.set_name(kLlmFallbackPlanner);
  absl::StatusOr<std::unique_ptr<Planner>> fallback = MakePlanner(fallback_spec);
  if (!fallback.ok()) return fallback.status();
  return std::unique_ptr<Planner>(make(LlmPlannerParts{*std::move(client), *std::move(fallback), options->max_repairs}));
}

}  // namespace

absl::StatusOr<LlmPlannerOptions> ParseLlmPlannerOptions(const vmle::v1::PlannerSpec& spec) {
  LlmPlannerOptions options;
  vmle::v1::PlannerSpec rest = spec;
  TakeStrings(rest, options);
  OptionReader reader(rest);
  double timeout_seconds = absl::ToDoubleSeconds(options.timeout);
  for (absl::Status s : {reader.Double("temperature", 0, 2, false, &options.temperature),
                         reader.Double("timeout_seconds", 0, 3600, true, &timeout_seconds),
                         reader.Int("max_repairs", 0, 10, &options.max_repairs),
                         reader.Int("max_attempts", 1, 10, &options.max_attempts), reader.NoOthers()}) {
    if (!s.ok()) return s;
  }
  options.timeout = absl::Seconds(timeout_seconds);
  if (!options.replay.empty() && !options.transcript.empty()) {
    return BadOption("replay", "cannot be combined with transcript (replay reads the transcript it serves)");
  }
  if (options.replay.empty() && options.model.empty()) {
    return BadOption("model", "required: the model name the endpoint serves, e.g. \"qwen2.5-7b-instruct\"");
  }
  if (options.replay.empty() && options.base_url.empty()) return BadOption("base_url", "must not be empty");
  return options;
}

absl::StatusOr<std::unique_ptr<llm::LlmClient>> MakeLlmClient(const LlmPlannerOptions& options,
                                                             prometheus::Registry* registry,
                                                             std::shared_ptr<const std::atomic<bool>> cancel) {
  if (!options.replay.empty()) {
    absl::StatusOr<std::unique_ptr<llm::ReplayLlmClient>> replay = llm::ReplayLlmClient::Open(options.replay);
    if (!replay.ok()) return BadOption("replay", replay.status().message());
    return std::unique_ptr<llm::LlmClient>(*std::move(replay));
  }
  absl::StatusOr<std::string> key = llm::ResolveApiKey(options.api_key_env, options.api_key_file);
  if (!key.ok()) return BadOption("api_key_file", key.status().message());
  llm::HttpLlmClientOptions http;
  http.base_url = options.base_url;
  http.model = options.model;
  http.temperature = options.temperature;
  http.timeout = options.timeout;
  http.max_attempts = options.max_attempts;
  http.api_key = *std::move(key);
  http.registry = registry;
  http.cancel = std::move(cancel);
  absl::StatusOr<std::unique_ptr<llm::HttpLlmClient>> client = llm::HttpLlmClient::Create(std::move(http));
  if (!client.ok()) return BadOption("base_url", client.status().message());
  if (options.transcript.empty()) return std::unique_ptr<llm::LlmClient>(*std::move(client));
  absl::StatusOr<std::unique_ptr<llm::RecordingLlmClient>> recording =
      llm::RecordingLlmClient::Create(*std::move(client), options.transcript);
  if (!recording.ok()) return BadOption("transcript", recording.status().message());
  return std::unique_ptr<llm::LlmClient>(*std::move(recording));
}

absl::StatusOr<std::unique_ptr<Planner>> MakeLlmPlanner(const vmle::v1::PlannerSpec& spec,
                                                        const PlannerEnvironment& environment) {
  return Build(spec, environment,
               [](LlmPlannerParts parts) { return std::make_unique<LlmPlanner>(std::move(parts)); });
}

absl::StatusOr<std::unique_ptr<Planner>> MakeOproPlanner(const vmle::v1::PlannerSpec& spec,
                                                         const PlannerEnvironment& environment) {
  return Build(spec, environment,
               [](LlmPlannerParts parts) { return std::make_unique<OproPlanner>(std::move(parts)); });
}

}  // namespace vmle::agent
