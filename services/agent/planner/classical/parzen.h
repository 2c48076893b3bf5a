// Univariate Parzen estimators of the Tree-structured Parzen Estimator (Bergstra et
// al., "Algorithms for Hyper-Parameter Optimization", NeurIPS 2011), over the unit
// encoding of space_sampling.h.
//
// NumericParzen: a mixture of Gaussians truncated to [0, 1], one per observation plus
// a broad prior component N(0.5, 1). Bandwidths are adaptive as in the paper: each
// component's sigma is the larger distance to its neighbours among the sorted means
// (prior included), clipped to [1 / min(100, n + 1), 1]. The prior keeps every region
// reachable; its weight is `prior_weight` against 1 per observation.
//
// CategoricalParzen: smoothed counts, p(c) = (n_c + prior_weight / K) / (n +
// prior_weight) over K choices.
//
// Immutable after construction; thread-compatible.
#pragma once

#include <vector>

#include "services/agent/planner/space_sampling.h"

namespace vmle::agent {

class NumericParzen {
 public:
  // `points` in [0, 1]; prior_weight > 0.
  NumericParzen(const std::vector<double>& points, double prior_weight);

  // Log of the mixture density at u in [0, 1].
  double LogDensity(double u) const;
  // A draw from the mixture, inside [0, 1].
  double Sample(Rng& rng) const;

 private:
  std::vector<double> mus_;
  std::vector<double> sigmas_;
  // Normalised mixture weights.
  std::vector<double> weights_;
  // Each component's mass inside [0, 1] (truncation).
  std::vector<double> masses_;
};

class CategoricalParzen {
 public:
  // `choices` are indices in [0, num_choices).
  CategoricalParzen(const std::vector<int>& choices, int num_choices, double prior_weight);

  double LogDensity(int choice) const;
  int Sample(Rng& rng) const;

 private:
  std::vector<double> probs_;
};

}  // namespace vmle::agent
