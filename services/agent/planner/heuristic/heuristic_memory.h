// Rule-based memory of the heuristic planner, without an LLM: templated L1
// reflections, L2 working insights consolidated from them, and the L3 cognition
// summary of a finished study. The LLM planner falls back to these functions when
// its endpoint fails.
//
// All three read the study as heuristic_trajectory.h does (each trial as one change
// from its parent), so they hold for trials proposed by any planner. Conditions are
// the dataset's regime (heuristic_knowledge.h): "mean_length < 10" or
// "mean_length >= 10", and the catalogue size for loss and num_negatives; without a
// profile a rule has no condition.
//
// Thread-safe: pure functions of their arguments.
#pragma once

#include "absl/status/statusor.h"
#include "services/agent/planner/planner.h"

namespace vmle::agent {

struct HeuristicMemoryOptions {
  // Relative change below which a trial neither helped nor hurt.
  double tie_epsilon = 0.005;
  // Most working insights kept.
  int max_insights = 12;
  // The evidence's noise prior and seeds of intensification (evidence/evidence.h).
  double noise_prior = 0.02;
  int max_seeds = 3;
};

// The reflection on `finished` (context.history holds it; when it does not, it is
// read as the newest trial): observation (value against the best before it, relative
// gain), explanation (the mechanism of the change, or why it backfired),
// generalized_rule ("raising dropout helps when mean_length < 10"), next_action,
// knob (the changed parameter, "transfer"/"several" for a multi-parameter jump, ""
// for the first trial), relative_gain (against the parent trial, or against the best
// before it without a parent) and author "heuristic".
absl::StatusOr<vmle::v1::Reflection> HeuristicReflection(const PlanningContext& context,
                                                         const vmle::v1::Trial& finished,
                                                         const HeuristicMemoryOptions& options);

// The working insights after context.reflections: one per (knob, direction) of the
// reflected one-change trials, with the trials that supported it (gain above
// tie_epsilon) and contradicted it (below -tie_epsilon), confidence
// (support + 1) / (support + contradict + 2), and a sentence. Strongest first (more
// support, then higher confidence, then larger mean gain; insights that never helped
// last), at most max_insights.
absl::StatusOr<vmle::v1::WorkingInsights> HeuristicInsights(const PlanningContext& context,
                                                            const HeuristicMemoryOptions& options);

// The cognition summary of the study: a rule per (knob, direction) that helped at
// least once (a loss elsewhere, e.g. a line search overshooting, lowers its
// confidence instead) (effect = mean relative gain of the trials that helped,
// evidence_trials = those trials, evidence_datasets = 1, confidence as above,
// condition = the dataset's regime), strongest (confidence x effect) first;
// search_order = "baseline" then the dimensions in the order they improved the best;
// failed_attempts = "<knob> <direction> (<gain>% on trial <n>)" for changes that
// hurt and never helped; best_config and best_value of the best trial (ties to the
// simpler configuration); dataset_name from the spec; prose, a short paragraph.
// FAILED_PRECONDITION when no trial succeeded.
absl::StatusOr<vmle::v1::CognitionSummary> HeuristicSummary(const PlanningContext& context,
                                                            const HeuristicMemoryOptions& options);

}  // namespace vmle::agent
