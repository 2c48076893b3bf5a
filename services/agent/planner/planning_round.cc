#include "services/agent/planner/planning_round.h"

#include <utility>

#include "common/space/space_proto.h"
#include "common/status/status_macros.h"

namespace vmle::agent {

PlanningRound PlanningRound::Start(const PlanningContext& context, std::string planner) {
  PlanningRound round;
  round.space_ = &context.space;
  round.fixed_ = context.spec.fixed();
  round.planner_ = std::move(planner);
  round.wanted_ = context.max_proposals;
  round.proposed_before_ = static_cast<int>(context.history.size() + context.pending.size());
  for (const auto* trials : {&context.history, &context.pending}) {
    for (const vmle::v1::Trial& t : *trials) round.taken_.insert(ConfigKey(*round.space_, t.config()));
  }
  return round;
}

absl::StatusOr<vmle::v1::Configuration> PlanningRound::Check(const vmle::v1::Configuration& candidate) const {
  vmle::v1::Configuration merged = fixed_;
  for (const space::ParamSpec& p : space_->params) (*merged.mutable_values())[p.name] = ValueOf(p, candidate);
  ResetInactive(*space_, &merged);
  // Taken first: cheap, and every configuration taken was valid.
  if (taken_.contains(ConfigKey(*space_, merged))) {
    return absl::AlreadyExistsError("the configuration repeats a finished, running or already proposed trial");
  }
  absl::StatusOr<vmle::v1::Configuration> complete = space::CompleteConfiguration(*space_, merged);
  if (!complete.ok()) return complete.status();
  // Values in their parameters' types (ConformValue), as trials carry them.
  vmle::v1::Configuration out;
  for (const space::ParamSpec& p : space_->params) (*out.mutable_values())[p.name] = complete->values().at(p.name);
  return out;
}

std::optional<vmle::v1::Configuration> PlanningRound::Admit(const vmle::v1::Configuration& candidate) const {
  absl::StatusOr<vmle::v1::Configuration> checked = Check(candidate);
  if (!checked.ok()) return std::nullopt;
  return *std::move(checked);
}

void PlanningRound::AddReplicate(const vmle::v1::Configuration& of, std::string hypothesis) {
  PlannedTrial trial;
  for (const space::ParamSpec& p : space_->params) (*trial.config.mutable_values())[p.name] = ValueOf(p, of);
  trial.proposal.set_hypothesis(std::move(hypothesis));
  trial.proposal.set_planner(planner_);
  trial.admitted = true;
  trials_.push_back(std::move(trial));
}

void PlanningRound::Add(vmle::v1::Configuration config, std::string hypothesis) {
  taken_.insert(ConfigKey(*space_, config));
  PlannedTrial trial;
  trial.config = std::move(config);
  trial.proposal.set_hypothesis(std::move(hypothesis));
  trial.proposal.set_planner(planner_);
  trial.admitted = true;
  trials_.push_back(std::move(trial));
}

}  // namespace vmle::agent
