// A study's history read the way the heuristic planner and its memory read it: which
// single change each finished trial made from which earlier trial, what it gained,
// and which trial is the current best.
//
// A trial's parent is the best-scoring earlier finished trial from which it differs
// in exactly one parameter (counting a parameter together with the parameters that
// only matter under it, e.g. loss with num_negatives, and ignoring parameters
// inactive in either configuration). Trials without a parent are the baseline (the
// first trial) or multi-parameter jumps such as a transferred configuration. This is
// recomputed from the configurations alone, so it holds for trials proposed by any
// planner and after a restart.
//
// Thread-safe once built (immutable).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/agent/planner/planner.h"
#include "services/trainer/space/search_space.h"

namespace vmle::agent::heuristic {

// The knob name of a trial that changed several parameters at once.
inline constexpr char kSeveralKnobs[] = "several";

// One finished trial seen as a change.
struct Step {
  // Index of the one-change parent in the history, -1 when there is none.
  int parent = -1;
  // The changed parameter ("" for the first trial of the study, kSeveralKnobs for
  // a trial without parent after it) and its direction: "up", "down" or the new
  // value of a categorical or bool parameter.
  std::string knob;
  std::string direction;
  // The parent's value of the parameter and this trial's, as text ("" without parent).
  std::string from_value;
  std::string to_value;
  // Relative change of the objective against the parent, positive when better under
  // the study's direction; against the best earlier trial when there is no parent;
  // -1 for a failed trial; 0 for the first trial.
  double gain = 0;
  bool failed = false;
};

class Trajectory {
 public:
  // INVALID_ARGUMENT when the context's space cannot be read. Ties: scores within
  // `tie_epsilon` (relative) of the best count as equal, and the simpler
  // configuration wins (fewer parameters away from the defaults, then the smaller
  // model, then the earlier trial).
  static absl::StatusOr<Trajectory> Read(const PlanningContext& context, double tie_epsilon);

  const trainer::SearchSpace& space() const { return space_; }
  const std::vector<vmle::v1::Trial>& history() const { return history_; }
  const std::vector<Step>& steps() const { return steps_; }
  double tie_epsilon() const { return tie_epsilon_; }

  // The objective oriented so that larger is better; -infinity for failed trials and
  // trials without a finite value.
  double Score(int index) const { return scores_[static_cast<size_t>(index)]; }
  // The noise-aware estimate of a trial's score: one run is half the evidence, so a
  // trial with a parent is credited with the mean of its own score and its parent's
  // estimate (a change of one knob rarely moves the objective far, and a single
  // lucky run must not become a best that nothing can beat). The score itself for
  // trials without parent. A consequence: a change that measures the same as its
  // parent right after a gain inherits part of the evidence for that gain and
  // estimates above the parent.
  double Estimate(int index) const { return estimates_[static_cast<size_t>(index)]; }
  // Index of the best trial by Estimate among the first `count` of the history (all
  // by default), ties to the simpler configuration; -1 when none has a finite score.
  int Best(int count = -1) const;
  // Whether a step's gain counts as an improvement or as a loss (beyond tie_epsilon).
  bool Helped(const Step& step) const { return !step.failed && step.parent >= 0 && step.gain > tie_epsilon_; }
  bool Hurt(const Step& step) const { return step.failed || (step.parent >= 0 && step.gain < -tie_epsilon_); }
  // A loss beyond the noise band (kClearLoss tie epsilons): the change is wrong here,
  // not merely unlucky.
  bool ClearlyHurt(const Step& step) const {
    return step.failed || (step.parent >= 0 && step.gain < -kClearLoss * tie_epsilon_);
  }
  static constexpr double kClearLoss = 3.0;

  // The parameter's value in a history trial's configuration.
  vmle::v1::ParamValue ValueAt(int index, const trainer::ParamSpec& param) const;

 private:
  Trajectory() = default;
  void FindParents();
  // Fewer is simpler: (parameters off their default, model size).
  std::pair<int, double> Complexity(int index) const;

  trainer::SearchSpace space_;
  std::vector<vmle::v1::Trial> history_;
  std::vector<double> scores_;
  std::vector<double> estimates_;
  // Per trial, the text of every parameter of the space (inactive ones at default).
  std::vector<std::vector<std::string>> values_;
  std::vector<Step> steps_;
  double tie_epsilon_ = 0;
};

// A numeric value as a double (int or float; text parsed; 0 otherwise).
double NumberOf(const vmle::v1::ParamValue& value);

// The direction of a change of `param` from `from` to `to`: "up"/"down" for numeric
// parameters, the new value's text otherwise.
std::string DirectionOf(const trainer::ParamSpec& param, const vmle::v1::ParamValue& from,
                        const vmle::v1::ParamValue& to);

}  // namespace vmle::agent::heuristic
