#include "tests/agent/planning_loop.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "common/space/space_proto.h"
#include "common/status/status_macros.h"
#include "services/agent/evidence/evidence.h"

namespace vmle::agent::testing {

absl::StatusOr<space::SearchSpace> TypedSpace(const vmle::v1::SearchSpace& wire) {
  ASSIGN_OR_RETURN(const space::SearchSpace full, space::EffectiveSpace(vmle::v1::BACKBONE_SASREC, wire));
  space::SearchSpace out;
  out.backbone = full.backbone;
  for (const vmle::v1::ParamSpec& p : wire.params()) out.params.push_back(*full.Find(p.name()));
  return out;
}

PlanningContext ContextFor(const vmle::v1::SearchSpace& space, uint64_t seed, vmle::v1::Direction direction) {
  PlanningContext context;
  context.spec.set_backbone(vmle::v1::BACKBONE_SASREC);
  context.spec.mutable_objective()->set_direction(direction);
  context.spec.set_seed(seed);
  absl::StatusOr<space::SearchSpace> typed = TypedSpace(space);
  EXPECT_TRUE(typed.ok()) << typed.status();
  if (typed.ok()) context.space = *std::move(typed);
  context.seed = seed;
  context.max_proposals = 1;
  return context;
}

PlanningContext SasrecContext(uint64_t seed, vmle::v1::Direction direction) {
  return ContextFor(space::ToProto(space::DefaultSearchSpace(space::Backbone::kSASRec)), seed, direction);
}

vmle::v1::SearchSpace FloatSpace(const std::vector<std::pair<std::string, std::pair<double, double>>>& params) {
  vmle::v1::SearchSpace space;
  space.set_backbone(vmle::v1::BACKBONE_SASREC);
  for (const auto& [name, bounds] : params) {
    vmle::v1::ParamSpec* p = space.add_params();
    p->set_name(name);
    p->mutable_float_range()->set_min(bounds.first);
    p->mutable_float_range()->set_max(bounds.second);
  }
  return space;
}

// The seed the agent gives `t` (numbered, with its proposal) after `before`.
uint64_t PlannedSeed(const std::vector<vmle::v1::Trial>& before, uint64_t study_seed, const vmle::v1::Trial& t) {
  const int from = t.proposal().seed_from();
  if (from > 0 && from <= static_cast<int>(before.size())) return before[static_cast<size_t>(from - 1)].seed();
  return evidence::FreshSeed(study_seed, t.number());
}

std::vector<vmle::v1::Trial> RunStudy(Planner& planner, PlanningContext context, int budget, int parallel,
                                      const ObjectiveFn& objective) {
  std::vector<vmle::v1::Trial> trials;
  // As in the agent, the study's budget is known to the planner (its replicate budget follows).
  if (context.spec.budget().max_trials() == 0) context.spec.mutable_budget()->set_max_trials(budget);
  while (static_cast<int>(trials.size()) < budget) {
    context.max_proposals = std::min(parallel, budget - static_cast<int>(trials.size()));
    absl::StatusOr<std::vector<PlannedTrial>> planned = planner.Propose(context);
    EXPECT_TRUE(planned.ok()) << planned.status();
    if (!planned.ok() || planned->empty()) break;
    for (PlannedTrial& p : *planned) {
      vmle::v1::Trial t;
      t.set_number(static_cast<int>(trials.size()) + 1);
      *t.mutable_config() = p.config;
      *t.mutable_proposal() = p.proposal;
      t.set_seed(PlannedSeed(trials, context.seed, t));
      t.set_status(vmle::v1::TRIAL_STATUS_SUCCEEDED);
      t.set_objective_value(objective(p.config, t.seed()));
      trials.push_back(t);
      context.history.push_back(t);
    }
  }
  return trials;
}

namespace {

// Reflects on `trial` and consolidates, as the agent does after a finished trial.
void Remember(Planner& planner, PlanningContext& context, const vmle::v1::Trial& trial, StudyRecord& record) {
  absl::StatusOr<std::optional<vmle::v1::Reflection>> reflection = planner.Reflect(context, trial);
  ASSERT_TRUE(reflection.ok()) << reflection.status();
  if (!reflection->has_value()) return;
  vmle::v1::Reflection r = **reflection;
  r.set_trial_number(trial.number());
  record.reflections.push_back(r);
  context.reflections = record.reflections;
  absl::StatusOr<std::optional<vmle::v1::WorkingInsights>> insights = planner.Consolidate(context);
  ASSERT_TRUE(insights.ok()) << insights.status();
  if (insights->has_value()) record.insights = **insights;
  context.insights = record.insights;
}

}  // namespace

StudyRecord RunStudyWithMemory(Planner& planner, PlanningContext context, int budget, int parallel,
                               const ObjectiveFn& objective, const StudyMemory& memory) {
  StudyRecord record;
  // As in the agent, the study's budget is known to the planner (its replicate budget follows).
  if (context.spec.budget().max_trials() == 0) context.spec.mutable_budget()->set_max_trials(budget);
  while (static_cast<int>(record.trials.size()) < budget) {
    context.max_proposals = std::min(parallel, budget - static_cast<int>(record.trials.size()));
    absl::StatusOr<std::vector<PlannedTrial>> planned = planner.Propose(context);
    EXPECT_TRUE(planned.ok()) << planned.status();
    if (!planned.ok() || planned->empty()) break;
    for (PlannedTrial& p : *planned) {
      vmle::v1::Trial t;
      t.set_number(static_cast<int>(record.trials.size()) + 1);
      *t.mutable_config() = p.config;
      *t.mutable_proposal() = p.proposal;
      t.set_seed(PlannedSeed(record.trials, context.seed, t));
      const double value = objective(p.config, t.seed());
      t.set_status(std::isfinite(value) ? vmle::v1::TRIAL_STATUS_SUCCEEDED : vmle::v1::TRIAL_STATUS_FAILED);
      if (std::isfinite(value)) t.set_objective_value(value);
      if (!std::isfinite(value)) t.set_failure_cause("nan");
      record.trials.push_back(t);
      context.history.push_back(t);
      Remember(planner, context, t, record);
    }
    context.profile = memory.profile;
    context.recalled = memory.recalled;
  }
  absl::StatusOr<std::optional<vmle::v1::CognitionSummary>> summary = planner.Distill(context);
  EXPECT_TRUE(summary.ok()) << summary.status();
  if (summary.ok()) record.summary = *std::move(summary);
  return record;
}

double BestValue(const std::vector<vmle::v1::Trial>& trials, vmle::v1::Direction direction) {
  const bool minimise = direction == vmle::v1::DIRECTION_MINIMIZE;
  double best = minimise ? 1e300 : -1e300;
  for (const vmle::v1::Trial& t : trials) {
    best = minimise ? std::min(best, t.objective_value()) : std::max(best, t.objective_value());
  }
  return best;
}

double FloatOf(const vmle::v1::Configuration& config, const std::string& name) {
  const vmle::v1::ParamValue& v = config.values().at(name);
  return v.kind_case() == vmle::v1::ParamValue::kIntValue ? static_cast<double>(v.int_value()) : v.float_value();
}

}  // namespace vmle::agent::testing
