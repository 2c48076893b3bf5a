// The moves the heuristic planner considers from the current best configuration:
// applying a move, continuing a step that helped (line search), half steps around
// a knob that helped (refinement), and the moves and the configuration that
// recalled cognition summaries suggest (transfer).
//
// Thread-safe: pure functions.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "services/agent/planner/heuristic/heuristic_knowledge.h"
#include "services/agent/planner/heuristic/heuristic_trajectory.h"
#include "services/agent/planner/planner.h"

namespace vmle::agent::heuristic {

// `from` with `move` applied: numeric results clamped into the parameter's bounds,
// integers rounded onto their step, floats kept to 4 significant digits. nullopt
// when the parameter is not in `space`, the value would not change, or the
// parameter named by move.needs is off in `from`.
std::optional<vmle::v1::Configuration> ApplyMove(const space::SearchSpace& space,
                                                 const vmle::v1::Configuration& from, const Move& move);

// The line search: when the step that produced the trial `index` helped and changed
// a numeric parameter, the same change again (a doubled step when the step before
// it, on the same parameter and in the same direction, helped too). The mechanism
// says so.
std::optional<Move> Continuation(const Trajectory& trajectory, int index);

// When the trial `index` was still improving at its last epoch (its best epoch is its
// max_epochs: training was cut off, not converged), twice the epochs; nullopt
// otherwise or when max_epochs is at the top of its range.
std::optional<Move> EpochBudget(const Trajectory& trajectory, int index);

// For every numeric parameter whose change helped somewhere in the study, half
// steps of that change in both directions (finer than the priors).
std::vector<Move> Refinements(const Trajectory& trajectory);

// A rule of a recalled summary as a move, with its rank.
struct TransferredMove {
  Move move;
  // confidence * effect of the rule.
  double strength = 0;
  // Whether its condition holds on the study's profile (false: unknown profile).
  bool holds = false;
  // The id of the summary, for the hypothesis.
  std::string source;
};

// The rules of `recalled` whose knob is in the space and whose condition holds on
// `profile` or cannot be decided yet (unknown profile): those that hold first, each
// group by strength, strongest first. A numeric rule moves to the value of the
// summary's best configuration when that lies in the rule's direction from `from`;
// when `from` has that value already, it re-tunes the knob by half the prior's (or
// the generic) step, in the rule's direction first, then the other; when the summary
// has no value for the knob, it moves by the prior's (or the generic) step; when
// `from` is beyond the value, the rule has nothing to add.
std::vector<TransferredMove> TransferredMoves(const space::SearchSpace& space,
                                              const std::vector<vmle::v1::CognitionSummary>& recalled,
                                              const std::optional<vmle::v1::DatasetProfile>& profile,
                                              const vmle::v1::Configuration& from);

// (knob, direction) pairs that recalled summaries list as failed attempts ("<knob>
// <direction> ..." as Distill writes them).
std::vector<std::pair<std::string, std::string>> TransferredFailures(
    const std::vector<vmle::v1::CognitionSummary>& recalled);

// The best configuration of the first recalled summary for `backbone` that has one,
// over the space (parameters it does not name at their defaults); nullopt when
// there is none.
std::optional<std::pair<vmle::v1::Configuration, std::string>> TransferredConfiguration(
    const space::SearchSpace& space, const std::vector<vmle::v1::CognitionSummary>& recalled,
    vmle::v1::Backbone backbone);

}  // namespace vmle::agent::heuristic
