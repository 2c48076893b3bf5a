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
// Options (planner.options.<key>); where the planner may call is operator
// configuration (llm/llm_endpoints.h), never a study option:
//  * endpoint: the name of an endpoint of the agent's --llm_endpoints_file (default:
//    the only one);
//  * model: a model of that endpoint's allow list (default: its first);
//  * temperature: in [0, 2] (default 0.2);
//  * max_repairs: re-asks after an unusable reply, in [0, 10] (default 2);
//  * replay: the id of a study whose transcript (recorded by the agent under its
//    --transcript_dir) is served instead of calling the endpoint.
// The agent records every exchange of a study that does not replay to
// <transcript_dir>/<study id>.jsonl when a transcript directory is configured.
// Options that would name a URL, a file or an environment variable (base_url,
// api_key_env, api_key_file, transcript) and the endpoint's own limits
// (timeout_seconds, max_attempts) are refused, naming the option.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/agent/llm/llm_client.h"
#include "services/agent/planner/planner.h"
#include "services/agent/planner/planner_environment.h"
#include "vmle/v1/study.pb.h"

namespace vmle::agent {

// The planner an llm or opro planner falls back to.
inline constexpr char kLlmFallbackPlanner[] = "heuristic";

struct LlmPlannerOptions {
  // The endpoint's name ("" = the only one configured).
  std::string endpoint;
  // A model of the endpoint's allow list ("" = its first).
  std::string model;
  double temperature = 0.2;
  int max_repairs = 2;
  // Replay the transcript of this study ("" = call the endpoint).
  std::string replay;
};

// INVALID_ARGUMENT naming planner.options.<key> for a malformed, unknown or
// forbidden option. Needs no configuration (submit-time syntax check).
absl::StatusOr<LlmPlannerOptions> ParseLlmPlannerOptions(const vmle::v1::PlannerSpec& spec);

// The client the options describe in `environment`: a ReplayLlmClient of the replayed
// study's transcript, or an HttpLlmClient on the chosen endpoint (its key read from the
// operator's file or variable now, so a rotated Secret is picked up), wrapped in a
// RecordingLlmClient writing <transcript_dir>/<environment.study_id>.jsonl when both
// are set. INVALID_ARGUMENT naming the option (endpoint, model, replay); messages never
// show the operator's paths or the key.
absl::StatusOr<std::unique_ptr<llm::LlmClient>> MakeLlmClient(const LlmPlannerOptions& options,
                                                             const PlannerEnvironment& environment);

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

// The factory's builders: options parsed and the client made; `fallback` is the
// planner (kLlmFallbackPlanner) the factory built for it.
absl::StatusOr<std::unique_ptr<Planner>> MakeLlmPlanner(const vmle::v1::PlannerSpec& spec,
                                                        const PlannerEnvironment& environment,
                                                        std::unique_ptr<Planner> fallback);
absl::StatusOr<std::unique_ptr<Planner>> MakeOproPlanner(const vmle::v1::PlannerSpec& spec,
                                                         const PlannerEnvironment& environment,
                                                         std::unique_ptr<Planner> fallback);

}  // namespace vmle::agent
