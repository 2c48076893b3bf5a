#include "services/agent/planner/classical/parzen.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace vmle::agent {
namespace {

constexpr double kPriorMu = 0.5;
constexpr double kPriorSigma = 1.0;
constexpr double kSqrt2 = 1.4142135623730951;
constexpr double kLogSqrt2Pi = 0.9189385332046727;
// Densities are floored here so that log l - log g stays finite.
constexpr double kMinDensity = 1e-300;

double NormalCdf(double z) { return 0.5 * std::erfc(-z / kSqrt2); }

// Adaptive bandwidths of the sorted means (Bergstra et al. 2011): the larger gap to a
// neighbour, clipped; the prior keeps its own width.
std::vector<double> Bandwidths(const std::vector<double>& sorted_mus, size_t prior_index) {
  const size_t n = sorted_mus.size();
  const double min_sigma = kPriorSigma / std::min(100.0, static_cast<double>(n));
  std::vector<double> sigmas(n, kPriorSigma);
  for (size_t i = 0; i < n; ++i) {
    if (i == prior_index) continue;
    const double left = i > 0 ? sorted_mus[i] - sorted_mus[i - 1] : 0.0;
    const double right = i + 1 < n ? sorted_mus[i + 1] - sorted_mus[i] : 0.0;
    sigmas[i] = std::clamp(std::max(left, right), min_sigma, kPriorSigma);
  }
  return sigmas;
}

}  // namespace

NumericParzen::NumericParzen(const std::vector<double>& points, double prior_weight) {
  struct Component {
    double mu;
    double weight;
    bool prior;
  };
  std::vector<Component> components;
  components.reserve(points.size() + 1);
  for (double p : points) components.push_back({std::clamp(p, 0.0, 1.0), 1.0, false});
  components.push_back({kPriorMu, prior_weight, true});
  std::stable_sort(components.begin(), components.end(),
                   [](const Component& a, const Component& b) { return a.mu < b.mu; });
  size_t prior_index = 0;
  for (size_t i = 0; i < components.size(); ++i) {
    mus_.push_back(components[i].mu);
    weights_.push_back(components[i].weight);
    if (components[i].prior) prior_index = i;
  }
  sigmas_ = Bandwidths(mus_, prior_index);
  const double total = std::accumulate(weights_.begin(), weights_.end(), 0.0);
  for (size_t i = 0; i < mus_.size(); ++i) {
    weights_[i] /= total;
    masses_.push_back(std::max(kMinDensity, NormalCdf((1.0 - mus_[i]) / sigmas_[i]) -
                                                NormalCdf((0.0 - mus_[i]) / sigmas_[i])));
  }
}

double NumericParzen::LogDensity(double u) const {
  double density = 0.0;
  for (size_t i = 0; i < mus_.size(); ++i) {
    const double z = (u - mus_[i]) / sigmas_[i];
    density += weights_[i] * std::exp(-0.5 * z * z - kLogSqrt2Pi) / (sigmas_[i] * masses_[i]);
  }
  return std::log(std::max(density, kMinDensity));
}

double NumericParzen::Sample(Rng& rng) const {
  double pick = rng.Uniform();
  size_t k = 0;
  while (k + 1 < weights_.size() && pick >= weights_[k]) pick -= weights_[k++];
  for (int attempt = 0; attempt < 64; ++attempt) {
    const double u = mus_[k] + sigmas_[k] * rng.Normal();
    if (u >= 0.0 && u <= 1.0) return u;
  }
  return std::clamp(mus_[k], 0.0, 1.0);
}

CategoricalParzen::CategoricalParzen(const std::vector<int>& choices, int num_choices, double prior_weight) {
  const int k = std::max(1, num_choices);
  probs_.assign(static_cast<size_t>(k), prior_weight / k);
  for (int c : choices) {
    if (c >= 0 && c < k) probs_[static_cast<size_t>(c)] += 1.0;
  }
  const double total = std::accumulate(probs_.begin(), probs_.end(), 0.0);
  for (double& p : probs_) p /= total;
}

double CategoricalParzen::LogDensity(int choice) const {
  if (choice < 0 || choice >= static_cast<int>(probs_.size())) return std::log(kMinDensity);
  return std::log(std::max(probs_[static_cast<size_t>(choice)], kMinDensity));
}

int CategoricalParzen::Sample(Rng& rng) const {
  double pick = rng.Uniform();
  size_t k = 0;
  while (k + 1 < probs_.size() && pick >= probs_[k]) pick -= probs_[k++];
  return static_cast<int>(k);
}

}  // namespace vmle::agent
