// The heuristic planner ("heuristic"), the offline default: the protocol of an
// experienced ML engineer in code (DESIGN.md, "The closed loop" and "Planners").
//
// Protocol of Propose:
//  * Round 1 is the space's default configuration (the baseline).
//  * Replicates come first in a round, within the study's replicate budget
//    (Budget.max_replicates; replicates count in max_trials): once the baseline has
//    finished (and a recalled best configuration was tried), the baseline again on a
//    new seed, so that the seed noise is measured;
//    then, while a challenger's gain over the best is positive but not clear of the
//    noise, the run that decides it (evidence/evidence.h NextReplicate: the
//    challenger on a seed the best ran, or the best on a new seed), one at a time.
//  * Every other proposal changes one parameter of the current best configuration:
//    the incumbent by the evidence (the mean over its seeds; a challenger becomes the
//    best only with a paired gain clear of the noise, or by its mean once it ran on
//    max_seeds seeds; ties within tie_epsilon go to the simpler configuration, fewer
//    parameters off their defaults, then the smaller model). While nothing has
//    finished, the baseline is the best. The seed plan pairs it with the best:
//    derived_from and seed_from name the best's first trial, so the change is
//    measured on the same seed.
//  * Candidates, in this order, the first admitted ones taken:
//     1. transfer: once, the best configuration of the nearest recalled cognition
//        summary (the first one for the study's backbone), changed as a whole
//        (changed_dimension "transfer"); off with transfer_best = false;
//     2. line search: when the best trial came from a numeric step that helped, the
//        same step again (doubled after two gains in a row);
//     3. transferred rules whose condition holds on the dataset profile, strongest
//        (confidence x effect) first, then those whose condition cannot be decided
//        yet (profile unknown);
//     4. the engineering priors (heuristic_knowledge.h) whose condition holds, in
//        their order, then those waiting for the profile;
//     5. half steps around parameters that helped (refinement);
//     6. default-sized steps of every parameter (exploration);
//     7. moves of 3-6 in a (parameter, direction) that clearly hurt earlier in the
//        study (a loss beyond three tie epsilons, outside the noise) or that a
//        recalled summary lists as failed: deferred to here, in order.
//    Priors apply to parameters still at their default.
//    Coverage rule: when the last coverage_window one-change trials touched at most
//    two parameters, candidates on parameters the study has not changed yet (and
//    no pending trial changes) go first, after the transfer.
//    When every candidate is taken, random single-parameter changes of the best
//    configuration, seeded by (study seed, trials proposed).
//  * A configuration already finished or pending is never proposed again; with
//    context.max_proposals = P, a round holds up to P distinct single changes.
//  * Every proposal fills hypothesis, changed_dimension, expected_mechanism, risk,
//    rollback and planner "heuristic".
//
// Reflect, Consolidate and Distill are the templated ones of heuristic_memory.h;
// Distill gives nothing when no trial succeeded.
//
// A function of its context (history, pending, profile, recalled, seed): no state
// between calls. Not thread-safe (Planner contract).
//
// Options (planner.options.<key>):
//  * tie_epsilon: relative score difference below which trials tie (default 0.005,
//    in [0, 0.5]);
//  * coverage_window: one-change trials the coverage rule looks back on (default
//    4, in [2, 50]);
//  * transfer_best: propose a recalled summary's best configuration (default true);
//  * max_insights: bound of the working insights (default 12, in [1, 100]);
//  * noise_prior: the relative seed noise assumed until replicates measure it
//    (default 0.02, in [0, 1]);
//  * max_seeds: seeds a challenger runs on, paired with the best, before its mean
//    decides (default 3, in [1, 10]).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/agent/planner/heuristic/heuristic_memory.h"
#include "services/agent/planner/planner.h"

namespace vmle::agent {

struct HeuristicOptions {
  // Relative score difference below which two trials tie.
  double tie_epsilon = 0.005;
  // One-change trials the coverage rule looks back on.
  int coverage_window = 4;
  // Propose the best configuration of a recalled summary once.
  bool transfer_best = true;
  // Most working insights kept by Consolidate.
  int max_insights = 12;
  // Relative seed noise before replicates measure it, and seeds of intensification.
  double noise_prior = 0.02;
  int max_seeds = 3;
};

// INVALID_ARGUMENT naming planner.options.<key> for a malformed or unknown option.
absl::StatusOr<HeuristicOptions> ParseHeuristicOptions(const vmle::v1::PlannerSpec& spec);

class HeuristicPlanner final : public Planner {
 public:
  explicit HeuristicPlanner(HeuristicOptions options) : options_(options) {}

  std::string Name() const override { return "heuristic"; }
  bool UsesRecall() const override { return true; }
  absl::StatusOr<std::vector<PlannedTrial>> Propose(const PlanningContext& context) override;
  absl::StatusOr<std::optional<vmle::v1::Reflection>> Reflect(const PlanningContext& context,
                                                              const vmle::v1::Trial& finished) override;
  absl::StatusOr<std::optional<vmle::v1::WorkingInsights>> Consolidate(const PlanningContext& context) override;
  absl::StatusOr<std::optional<vmle::v1::CognitionSummary>> Distill(const PlanningContext& context) override;

 private:
  HeuristicMemoryOptions MemoryOptions() const;

  HeuristicOptions options_;
};

}  // namespace vmle::agent
