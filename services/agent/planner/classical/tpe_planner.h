// Tree-structured Parzen Estimator ("tpe"), Bergstra et al., NeurIPS 2011, with the
// independent (per-parameter) estimators of the paper.
//
// The first n_startup trials of a study are random samples (random_planner.h). Then
// each proposal splits the finished trials at the gamma quantile of the objective
// (spec.objective.direction respected; failed trials, and trials without a finite
// value, count as worst): the best max(1, ceil(gamma * n)) form l(x), the rest g(x).
// Per parameter, l and g are Parzen estimators (parzen.h) over the unit encoding,
// fitted on the trials in which the parameter was active (conditional parameters
// form the "tree"). n_candidates configurations are drawn from l; the proposal is the
// admitted candidate with the largest sum over its active parameters of
// log l(x) - log g(x), where the per-parameter argmax over the candidates' values is
// a candidate too (the exact argmax for independent estimators, when it is valid).
//
// Parallel proposals: pending trials and the proposals already made in the round
// join g(x) (constant liar, "pending is bad"), so the next proposal moves away from
// them. The generator of the n-th trial is seeded from (study seed, n): the planner
// is a function of its context.
//
// Options: n_startup (default 8), gamma (default 0.25), n_candidates (default 24),
// prior_weight (default 1.0).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/agent/planner/planner.h"

namespace vmle::agent {

struct TpeOptions {
  // Random trials before the estimators are used.
  int n_startup = 8;
  // Share of finished trials that form l(x).
  double gamma = 0.25;
  // Candidates drawn from l(x) per proposal.
  int n_candidates = 24;
  // Weight of the prior component (and of the categorical smoothing).
  double prior_weight = 1.0;
};

// INVALID_ARGUMENT naming planner.options.<key> for a malformed or unknown option.
absl::StatusOr<TpeOptions> ParseTpeOptions(const vmle::v1::PlannerSpec& spec);

class TpePlanner final : public Planner {
 public:
  explicit TpePlanner(TpeOptions options) : options_(options) {}

  std::string Name() const override { return "tpe"; }
  absl::StatusOr<std::vector<PlannedTrial>> Propose(const PlanningContext& context) override;

 private:
  TpeOptions options_;
};

}  // namespace vmle::agent
