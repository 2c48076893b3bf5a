#include "services/agent/planner/llm/llm_planner.h"

#include <cmath>
#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging/logging.h"
#include "services/agent/planner/llm/llm_prompts.h"
#include "services/agent/planner/llm/llm_reply.h"
#include "services/agent/planner/llm/llm_session.h"
#include "services/agent/planner/planning_round.h"

namespace vmle::agent {
namespace {

using vmle::v1::Configuration;

// What one Propose of an llm or opro planner needs besides its context.
struct ProposeCall {
  std::string planner;
  const LlmPlannerParts& parts;
  // The prompt for `wanted` proposals.
  std::function<std::vector<llm::ChatMessage>(const PlanningContext&, const space::SearchSpace&, int)> messages;
  // Values of parameters a reply leaves out.
  Configuration base;
};

// Reads one reply into `round`, keeping its valid new proposals (and their reasons in
// `reasons`); an error lists what was rejected while proposals are still wanted.
absl::Status Accept(const std::string& reply, const ProposeCall& call, PlanningRound& round,
                    std::vector<vmle::v1::Proposal>& reasons) {
  absl::StatusOr<ReplyProposals> parsed = ParseProposals(reply, round.space(), call.base);
  if (!parsed.ok()) return parsed.status();
  std::vector<std::string> errors = parsed->errors;
  for (size_t i = 0; i < parsed->proposals.size() && !round.full(); ++i) {
    ReplyProposal& p = parsed->proposals[i];
    absl::StatusOr<Configuration> admitted = round.Check(p.config);
    if (!admitted.ok()) {
      errors.push_back(absl::StrCat("proposal ", i + 1, ": ", admitted.status().message()));
      continue;
    }
    round.Add(*std::move(admitted), p.proposal.hypothesis());
    p.proposal.set_planner(call.planner);
    reasons.push_back(std::move(p.proposal));
  }
  if (round.full() || errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
}

// The fallback planner's proposals for what the model left unfilled, marked.
absl::StatusOr<std::vector<PlannedTrial>> FallBack(const ProposeCall& call, PlanningContext context,
                                                   const std::vector<PlannedTrial>& accepted,
                                                   const std::string& reason) {
  for (const PlannedTrial& t : accepted) {
    vmle::v1::Trial pending;
    pending.set_number(static_cast<int>(context.history.size() + context.pending.size()) + 1);
    *pending.mutable_config() = t.config;
    context.pending.push_back(std::move(pending));
  }
  context.max_proposals -= static_cast<int>(accepted.size());
  log::Warn("LLM planner falls back", {{"planner", call.planner}, {"fallback", call.parts.fallback->Name()},
                                       {"reason", reason}});
  absl::StatusOr<std::vector<PlannedTrial>> planned = call.parts.fallback->Propose(context);
  if (!planned.ok()) return planned.status();
  for (PlannedTrial& t : *planned) {
    if (t.proposal.planner().empty()) t.proposal.set_planner(call.parts.fallback->Name());
    t.proposal.set_fallback(true);
    t.proposal.set_fallback_reason(reason);
  }
  return planned;
}

absl::StatusOr<std::vector<PlannedTrial>> ProposeWithLlm(const ProposeCall& call, const PlanningContext& context) {
  PlanningRound round = PlanningRound::Start(context, call.planner);
  if (context.max_proposals <= 0) return std::vector<PlannedTrial>{};
  std::vector<vmle::v1::Proposal> reasons;
  LlmSession session(*call.parts.client, call.messages(context, round.space(), context.max_proposals),
                     call.parts.max_repairs);
  absl::StatusOr<bool> done = session.Ask<bool>(
      [&](const std::string& reply) -> absl::StatusOr<bool> {
        if (absl::Status s = Accept(reply, call, round, reasons); !s.ok()) return s;
        return true;
      },
      [&](const std::string& error) {
        const int accepted = static_cast<int>(reasons.size());
        return RepairMessage(error, accepted, context.max_proposals - accepted);
      });
  if (!done.ok() && IsReplayError(done.status())) return done.status();
  std::vector<PlannedTrial> trials = round.Take();
  for (size_t i = 0; i < trials.size(); ++i) trials[i].proposal = reasons[i];
  if (done.ok()) return trials;
  absl::StatusOr<std::vector<PlannedTrial>> rest = FallBack(call, context, trials, std::string(done.status().message()));
  if (!rest.ok()) return rest.status();
  for (PlannedTrial& t : *rest) trials.push_back(std::move(t));
  return trials;
}

// The relative change of `finished` over the best trial before it, signed so that
// positive is better; 0 without an earlier best or a score.
double RelativeGain(const PlanningContext& context, const vmle::v1::Trial& finished) {
  PlanningContext before = context;
  before.history.clear();
  for (const vmle::v1::Trial& t : context.history) {
    if (t.number() < finished.number()) before.history.push_back(t);
  }
  const vmle::v1::Trial* best = BestTrial(before);
  if (best == nullptr || best->objective_value() == 0 || finished.status() == vmle::v1::TRIAL_STATUS_FAILED) return 0;
  const double gain = (finished.objective_value() - best->objective_value()) / std::abs(best->objective_value());
  return context.spec.objective().direction() == vmle::v1::DIRECTION_MINIMIZE ? -gain : gain;
}

std::string AskAgain(const std::string& error) { return RepairMessage(error, 0, 0); }

}  // namespace

absl::StatusOr<std::vector<PlannedTrial>> LlmPlanner::Propose(const PlanningContext& context) {
  ProposeCall call{Name(), parts_, LlmProposeMessages, {}};
  if (const vmle::v1::Trial* best = BestTrial(context); best != nullptr) call.base = best->config();
  return ProposeWithLlm(call, context);
}

absl::StatusOr<std::optional<vmle::v1::Reflection>> LlmPlanner::Reflect(const PlanningContext& context,
                                                                        const vmle::v1::Trial& finished) {
  LlmSession session(*parts_.client, ReflectMessages(context, context.space, finished), parts_.max_repairs);
  absl::StatusOr<vmle::v1::Reflection> reflection =
      session.Ask<vmle::v1::Reflection>([](const std::string& reply) { return ParseReflection(reply); }, AskAgain);
  if (!reflection.ok()) {
    if (IsReplayError(reflection.status())) return reflection.status();
    log::Warn("LLM reflection falls back", {{"trial", finished.id()}, {"reason", std::string(reflection.status().message())}});
    return parts_.fallback->Reflect(context, finished);
  }
  reflection->set_author("llm");
  reflection->set_knob(finished.proposal().changed_dimension());
  reflection->set_relative_gain(RelativeGain(context, finished));
  return std::optional<vmle::v1::Reflection>(*std::move(reflection));
}

absl::StatusOr<std::optional<vmle::v1::WorkingInsights>> LlmPlanner::Consolidate(const PlanningContext& context) {
  return parts_.fallback->Consolidate(context);
}

absl::StatusOr<std::optional<vmle::v1::CognitionSummary>> LlmPlanner::Distill(const PlanningContext& context) {
  LlmSession session(*parts_.client, DistillMessages(context, context.space), parts_.max_repairs);
  absl::StatusOr<vmle::v1::CognitionSummary> summary = session.Ask<vmle::v1::CognitionSummary>(
      [&](const std::string& reply) { return ParseSummary(reply, context.space); }, AskAgain);
  if (!summary.ok()) {
    if (IsReplayError(summary.status())) return summary.status();
    log::Warn("LLM distillation falls back", {{"reason", std::string(summary.status().message())}});
    return parts_.fallback->Distill(context);
  }
  if (const vmle::v1::Trial* best = BestTrial(context); best != nullptr) {
    *summary->mutable_best_config() = best->config();
    summary->set_best_value(best->objective_value());
  }
  return std::optional<vmle::v1::CognitionSummary>(*std::move(summary));
}

absl::StatusOr<std::vector<PlannedTrial>> OproPlanner::Propose(const PlanningContext& context) {
  const ProposeCall call{Name(), parts_, OproProposeMessages, {}};
  return ProposeWithLlm(call, context);
}

}  // namespace vmle::agent
