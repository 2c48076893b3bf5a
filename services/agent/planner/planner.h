// The planner interface: what proposes the next trials of a study, reflects on a
// finished one and distills a study into a cognition summary (DESIGN.md,
// "Planners"). Every planner — grid, random, random_default, tpe, heuristic, llm,
// opro — implements it; the agent's scheduler knows only this header.
//
// Contract:
//  * A planner is a function of its PlanningContext: it keeps no state between calls
//    that it could not rebuild from the context (history, pending trials, seed), so
//    an agent restarted mid-study continues with the same planner and gets the same
//    proposals a never-interrupted agent would have got. Randomised planners derive
//    their generator from (context.seed, trials proposed so far).
//  * Test metrics never reach a planner: the agent clears Trial.test before it builds
//    the context.
//  * Proposals are complete configurations inside context.space (every parameter of
//    the space present; values in their domains); the agent validates them again and
//    refuses the round with INTERNAL naming the parameter otherwise.
//  * Not thread-safe; the agent calls one planner of a study from one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/space/search_space.h"
#include "vmle/v1/memory.pb.h"
#include "vmle/v1/study.pb.h"

namespace vmle::agent {

// Everything a planner may read when it plans.
struct PlanningContext {
  // The study as submitted (objective, budget, planner options, seed).
  vmle::v1::StudySpec spec;
  // The effective search space as typed tables (common/space/search_space.h), built
  // once when the agent accepts the study: the backbone's default narrowed by the
  // study, with parameters fixed by spec.fixed removed.
  space::SearchSpace space;
  // Finished trials (succeeded, failed, stopped) in trial-number order, test metrics
  // and per-epoch metrics cleared (Reflect receives its trial whole). A trial's
  // objective_value is the validation metric of spec.objective.
  std::vector<vmle::v1::Trial> history;
  // Trials proposed but not finished yet (queued or running), in number order, cleared
  // the same way.
  std::vector<vmle::v1::Trial> pending;
  // The dataset's profile once a worker has loaded it.
  std::optional<vmle::v1::DatasetProfile> profile;
  // Cognition summaries recalled at the start (empty when transfer is off).
  std::vector<vmle::v1::CognitionSummary> recalled;
  // L1 reflections and L2 insights of this study (empty when memory is off).
  std::vector<vmle::v1::Reflection> reflections;
  vmle::v1::WorkingInsights insights;
  // Proposals wanted now (free parallel slots, never more than the budget left).
  int max_proposals = 1;
  // The study's seed.
  uint64_t seed = 0;
};

// One proposed trial.
struct PlannedTrial {
  // The full configuration, every parameter of the space set.
  vmle::v1::Configuration config;
  // Why: hypothesis, changed dimension, mechanism, risk, rollback, planner name.
  vmle::v1::Proposal proposal;
  // Set by PlanningRound for the configurations it checked (or replicated from a
  // trial): the agent then accepts `config` without validating it again.
  bool admitted = false;
};

class Planner {
 public:
  virtual ~Planner() = default;

  // The planner's name as in PlannerSpec.name ("tpe", ...).
  virtual std::string Name() const = 0;

  // Up to context.max_proposals new trials, distinct from each other and from the
  // pending ones. Fewer (even none) when the planner has nothing left to try, e.g. a
  // grid that is exhausted; the study then ends with end_reason "search space
  // exhausted" once no trial is pending.
  virtual absl::StatusOr<std::vector<PlannedTrial>> Propose(const PlanningContext& context) = 0;

  // Whether Propose reads context.recalled (transferred cognition summaries). The agent
  // recalls once the first trial reports the dataset's profile; for such a planner it
  // holds the first round's other slots until then.
  virtual bool UsesRecall() const { return false; }

  // A reflection on `finished` (the newest entry of context.history), or nullopt when
  // the planner does not reflect (the classical planners).
  virtual absl::StatusOr<std::optional<vmle::v1::Reflection>> Reflect(
      const PlanningContext& context, const vmle::v1::Trial& finished) {
    (void)context;
    (void)finished;
    return std::nullopt;
  }

  // L2: the study's working insights after `context.reflections` (which now include
  // the newest reflection), bounded and consolidated; nullopt keeps the current ones
  // (the classical planners). Called after each stored reflection unless the study
  // turns memory off.
  virtual absl::StatusOr<std::optional<vmle::v1::WorkingInsights>> Consolidate(const PlanningContext& context) {
    (void)context;
    return std::nullopt;
  }

  // The cognition summary of a finished study, or nullopt when the planner does not
  // distill (the classical planners). The agent fills in its id, source study,
  // backbone, dataset profile and objective metric.
  virtual absl::StatusOr<std::optional<vmle::v1::CognitionSummary>> Distill(
      const PlanningContext& context) {
    (void)context;
    return std::nullopt;
  }
};

}  // namespace vmle::agent
