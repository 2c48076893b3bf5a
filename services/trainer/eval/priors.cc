#include "services/trainer/eval/priors.h"

#include <cmath>

namespace vmle::trainer {
namespace {

// Additive smoothing of counts: small, so observed transitions dominate.
constexpr double kSmoothing = 0.01;

}  // namespace

ScorePriors::ScorePriors(const Dataset& dataset, const PriorWeights& weights)
    : weights_(weights), num_items_(dataset.num_items), counts_(ComputeTrainingPriors(dataset)) {
  double total = 0;
  for (int64_t c : counts_.popularity) total += static_cast<double>(c);
  std::vector<float> log_pop(num_items_ + 1, 0.f);
  const double denominator = total + kSmoothing * static_cast<double>(num_items_);
  for (int64_t i = 1; i <= num_items_; ++i) {
    log_pop[i] = static_cast<float>(
        std::log((static_cast<double>(counts_.popularity[i]) + kSmoothing) / denominator));
  }
  log_popularity_ = torch::tensor(log_pop);
  totals_.assign(num_items_ + 1, 0);
  for (int64_t i = 0; i <= num_items_; ++i) {
    for (const ItemCount& next : counts_.transitions[i]) totals_[i] += next.count;
  }
}

torch::Tensor ScorePriors::LogTransition(const torch::Tensor& recent) const {
  const auto items = recent.to(torch::kCPU).contiguous();
  const int64_t rows = items.size(0);
  const int64_t k = items.size(1);
  auto out = torch::empty({rows, num_items_ + 1});
  float* o = out.data_ptr<float>();
  const int64_t* last = items.data_ptr<int64_t>();
  const double smoothing_mass = kSmoothing * static_cast<double>(num_items_);
  // P(i) = mean over the k sources m of (count_m(i) + s) / (total_m + s N): a
  // constant for items no source leads to, plus the observed successors.
  std::vector<double> extra(num_items_ + 1, 0.0);
  std::vector<int32_t> touched;
  for (int64_t r = 0; r < rows; ++r) {
    float* row = o + r * (num_items_ + 1);
    double base = 0;
    int64_t used = 0;
    touched.clear();
    for (int64_t j = 0; j < k; ++j) {
      const int64_t item = last[r * k + j];
      if (item <= 0 || item > num_items_) continue;
      ++used;
      const double denominator = static_cast<double>(totals_[item]) + smoothing_mass;
      base += kSmoothing / denominator;
      for (const ItemCount& next : counts_.transitions[item]) {
        if (extra[next.item] == 0.0) touched.push_back(next.item);
        extra[next.item] += next.count / denominator;
      }
    }
    if (used == 0) {  // no history: uniform
      std::fill(row, row + num_items_ + 1, static_cast<float>(-std::log(num_items_)));
      continue;
    }
    std::fill(row, row + num_items_ + 1, static_cast<float>(std::log(base / used)));
    for (int32_t item : touched) {
      row[item] = static_cast<float>(std::log((base + extra[item]) / used));
      extra[item] = 0.0;
    }
  }
  return out;
}

torch::Tensor ScorePriors::Blend(const torch::Tensor& scores, const torch::Tensor& recent) const {
  if (!weights_.any()) return scores;
  const double model_weight = 1.0 - weights_.popularity - weights_.transition;
  auto model = torch::log_softmax(scores.narrow(1, 1, num_items_), 1);
  auto blended = torch::zeros_like(scores);
  auto body = blended.narrow(1, 1, num_items_);
  if (model_weight > 0) body.add_(model, model_weight);
  if (weights_.popularity > 0) {
    body.add_(log_popularity_.to(scores.device()).narrow(0, 1, num_items_).unsqueeze(0),
              weights_.popularity);
  }
  if (weights_.transition > 0) {
    body.add_(LogTransition(recent).to(scores.device()).narrow(1, 1, num_items_),
              weights_.transition);
  }
  return blended;
}

}  // namespace vmle::trainer
