// A study's history read the way the heuristic planner and its memory read it: which
// single change each finished trial made from which earlier trial, what it gained on
// the same seed, which trials are replicates, and which configuration is the current
// best by the evidence (evidence/evidence.h: the mean over seeds, a challenger
// confirmed by intensification).
//
// A trial's parent is the trial its proposal says it was derived from
// (Proposal.derived_from) when that differs from it in exactly one parameter, else the
// best earlier finished trial from which it differs in exactly one parameter (counting
// a parameter together with the parameters that only matter under it, e.g. loss with
// num_negatives, and ignoring parameters inactive in either configuration). Trials
// without a parent are the baseline (the first trial), replicates (a configuration
// that ran before) or multi-parameter jumps such as a transferred configuration. This
// is recomputed from the trials alone, so it holds for trials proposed by any planner
// and after a restart.
//
// Thread-safe once built (immutable).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/space/search_space.h"
#include "services/agent/evidence/evidence.h"
#include "services/agent/planner/planner.h"

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
  // the study's direction: on the same seed when the parent ran on it (paired), else
  // against the parent's mean; against the best earlier trial when there is no parent;
  // -1 for a failed trial; 0 for the first trial and for replicates.
  double gain = 0;
  bool paired = false;
  bool failed = false;
  // A rerun of an earlier trial's configuration (index of that configuration's first
  // run), -1 otherwise.
  int replicate_of = -1;
};

class Trajectory {
 public:
  // Ties: scores within `tie_epsilon` (relative) of the best count as equal, and the
  // simpler configuration wins (fewer parameters away from the defaults, then the
  // smaller model, then the earlier trial). `evidence` sets the noise prior and the seeds of
  // intensification (its tie and simpler are these). The trajectory refers to the
  // context's space: the context must outlive it.
  static Trajectory Read(const PlanningContext& context, double tie_epsilon, evidence::Options evidence = {});

  const space::SearchSpace& space() const { return *space_; }
  const std::vector<vmle::v1::Trial>& history() const { return history_; }
  const std::vector<Step>& steps() const { return steps_; }
  double tie_epsilon() const { return tie_epsilon_; }

  // The objective oriented so that larger is better; -infinity for failed trials and
  // trials without a finite value.
  double Score(int index) const { return scores_[static_cast<size_t>(index)]; }
  // The estimate of a trial's score: the mean over every seed its configuration ran on.
  double Estimate(int index) const;
  // The evidence over the whole history: groups, noise, paired comparisons, incumbent.
  const evidence::StudyEvidence& evidence() const { return *evidence_; }
  // Index of the best trial (the first run of the incumbent configuration, by the
  // evidence) among the first `count` of the history (all by default); -1 when none
  // has a finite score.
  int Best(int count = -1) const;
  // "trial 4 (.0412 ± .0009 over 2 seeds)" or "trial 4 (.0412, 1 seed)".
  std::string Describe(int index) const;
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
  vmle::v1::ParamValue ValueAt(int index, const space::ParamSpec& param) const;

 private:
  Trajectory() = default;
  void FindParents();
  // Fewer is simpler: (parameters off their default, model size).
  std::pair<int, double> Complexity(int index) const;

  evidence::Options EvidenceOptions() const;

  // The context's space: the context must outlive the trajectory.
  const space::SearchSpace* space_ = nullptr;
  std::vector<vmle::v1::Trial> history_;
  vmle::v1::Direction direction_ = vmle::v1::DIRECTION_MAXIMIZE;
  evidence::Options evidence_options_;
  std::shared_ptr<const evidence::StudyEvidence> evidence_;
  std::vector<double> scores_;
  // Per trial, the text of every parameter of the space (inactive ones at default).
  std::vector<std::vector<std::string>> values_;
  std::vector<Step> steps_;
  double tie_epsilon_ = 0;
};

// The evidence options of a heuristic study: the noise prior and seeds of
// intensification, which applies while the study's replicate budget is not spent by
// finished replicates (evidence::Intensifying).
evidence::Options StudyEvidenceOptions(const PlanningContext& context, double noise_prior, int max_seeds);

// A numeric value as a double (int or float; text parsed; 0 otherwise).
double NumberOf(const vmle::v1::ParamValue& value);

// The direction of a change of `param` from `from` to `to`: "up"/"down" for numeric
// parameters, the new value's text otherwise.
std::string DirectionOf(const space::ParamSpec& param, const vmle::v1::ParamValue& from,
                        const vmle::v1::ParamValue& to);

}  // namespace vmle::agent::heuristic
