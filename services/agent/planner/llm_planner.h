// The LLM planners (DESIGN.md, "Planners"):
//  * "llm": the engineer in the loop. Its prompts (llm_prompts.h) carry the dataset
//    profile, the search space, the current best, the trial table (validation
//    objective only), the reflections and working insights (none when the study
//    turns memory off) and the recalled cognition summaries; it proposes trials with
//    {hypothesis, changed_dimension, expected_mechanism, risk, rollback,
//    configuration}, reflects on every finished trial and distills the study.
//  * "opro": Yang et al. (2023), "Large Language Models as Optimizers": the model
//    sees only the search space and the scored configurations, sorted; no
//    reflection, no memory, no distillation.
//
// Replies are read as JSON and checked against the search space: every value by its
// parameter, the whole configuration by vmle::space::CompleteConfiguration (with the
// study's fixed parameters), and against the trials already finished, pending or
// proposed in the round. An unusable reply is re-asked with the error, at most
// max_repairs times (llm_session.h); then the call falls back to the heuristic
// planner: its proposals carry Proposal.fallback = true and fallback_reason, a
// reflection or summary is the heuristic's templated one. Consolidation of working
// insights is always the heuristic's (rule-based, no LLM call).
//
// A function of its context as far as the model is: with a transcript replayed
// (option replay) the same context gives the same proposals. Not thread-safe
// (Planner contract).
//
// Options (planner.options.<key>):
//  * base_url: OpenAI-compatible endpoint root (default http://localhost:8000/v1);
//  * model: model name (required unless replay is set);
//  * temperature: in [0, 2] (default 0.2);
//  * timeout_seconds: per HTTP attempt, in (0, 3600) (default 120);
//  * api_key_env: environment variable holding the API key (default OPENAI_API_KEY);
//  * api_key_file: file holding the API key (e.g. a mounted Kubernetes Secret);
//    wins over api_key_env;
//  * max_repairs: re-asks after an unusable reply, in [0, 10] (default 2);
//  * transcript: append every exchange to this JSON-lines file (llm/transcript.h);
//  * replay: serve the replies of this transcript instead of calling the endpoint.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/agent/llm/llm_client.h"
#include "services/agent/planner/planner.h"
#include "services/agent/planner/planner_factory.h"
#include "vmle/v1/study.pb.h"

namespace vmle::agent {

// The planner an llm or opro planner falls back to.
inline constexpr char kLlmFallbackPlanner[] = "heuristic";

struct LlmPlannerOptions {
  std::string base_url = "http://localhost:8000/v1";
  // Required unless `replay` is set.
  std::string model;
  double temperature = 0.2;
  absl::Duration timeout = absl::Seconds(120);
  std::string api_key_env = "OPENAI_API_KEY";
  std::string api_key_file;
  int max_repairs = 2;
  // HTTP attempts per call (retries of timeouts, 429 and 5xx, with backoff).
  int max_attempts = 4;
  // Record to this transcript ("" = no recording).
  std::string transcript;
  // Replay from this transcript ("" = call the endpoint).
  std::string replay;
};

// INVALID_ARGUMENT naming planner.options.<key> for a malformed, missing or unknown
// option, or transcript and replay together.
absl::StatusOr<LlmPlannerOptions> ParseLlmPlannerOptions(const vmle::v1::PlannerSpec& spec);

// The client the options describe: a ReplayLlmClient, or an HttpLlmClient (its key
// resolved from api_key_file or api_key_env) wrapped in a RecordingLlmClient when a
// transcript is wanted. INVALID_ARGUMENT naming the option when a file cannot be
// opened or read.
// `registry` (may be null) receives the endpoint metrics.
// `cancel` (may be null) aborts the HTTP client's calls, see HttpLlmClientOptions.
absl::StatusOr<std::unique_ptr<llm::LlmClient>> MakeLlmClient(const LlmPlannerOptions& options,
                                                             prometheus::Registry* registry = nullptr,
                                                             std::shared_ptr<const std::atomic<bool>> cancel = nullptr);

// What an llm or opro planner is made of.
struct LlmPlannerParts {
  std::unique_ptr<llm::LlmClient> client;
  // Plans, reflects, consolidates and distills whatever the model cannot.
  std::unique_ptr<Planner> fallback;
  // Re-asks after an unusable reply.
  int max_repairs = 2;
};

class LlmPlanner final : public Planner {
 public:
  explicit LlmPlanner(LlmPlannerParts parts) : parts_(std::move(parts)) {}

  std::string Name() const override { return "llm"; }
  bool UsesRecall() const override { return true; }
  absl::StatusOr<std::vector<PlannedTrial>> Propose(const PlanningContext& context) override;
  absl::StatusOr<std::optional<vmle::v1::Reflection>> Reflect(const PlanningContext& context,
                                                              const vmle::v1::Trial& finished) override;
  absl::StatusOr<std::optional<vmle::v1::WorkingInsights>> Consolidate(const PlanningContext& context) override;
  absl::StatusOr<std::optional<vmle::v1::CognitionSummary>> Distill(const PlanningContext& context) override;

 private:
  LlmPlannerParts parts_;
};

class OproPlanner final : public Planner {
 public:
  explicit OproPlanner(LlmPlannerParts parts) : parts_(std::move(parts)) {}

  std::string Name() const override { return "opro"; }
  absl::StatusOr<std::vector<PlannedTrial>> Propose(const PlanningContext& context) override;

 private:
  LlmPlannerParts parts_;
};

// The factory's builders: options parsed, client and fallback made.
absl::StatusOr<std::unique_ptr<Planner>> MakeLlmPlanner(const vmle::v1::PlannerSpec& spec,
                                                        const PlannerEnvironment& environment);
absl::StatusOr<std::unique_ptr<Planner>> MakeOproPlanner(const vmle::v1::PlannerSpec& spec,
                                                         const PlannerEnvironment& environment);

}  // namespace vmle::agent
