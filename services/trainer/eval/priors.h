// Training-split priors blended into a model's scores at ranking time.
//
// Each prior is a distribution over items estimated from the training portions of
// the split only (never validation or test targets): popularity, and first-order
// transitions from the user's most recent k items (averaged over those k). Scores
// are blended log-linearly:
//   score = (1 - w_pop - w_trans) * log_softmax(model) + w_pop * log P_pop
//           + w_trans * log P_trans(. | last k items)
// so a weight of 1 ranks exactly by that prior and 0 disables it. Counts are
// smoothed with a small additive constant so unseen items keep a finite score.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "services/trainer/data/dataset.h"
#include "services/trainer/data/split.h"

namespace vmle::trainer {

struct PriorWeights {
  double popularity = 0;  // in [0, 1]
  double transition = 0;  // in [0, 1]; popularity + transition <= 1
  int64_t recent_k = 1;   // history items the transition prior starts from

  bool any() const { return popularity > 0 || transition > 0; }
};

class ScorePriors {
 public:
  ScorePriors(const Dataset& dataset, const PriorWeights& weights);

  // scores: float [B, num_items + 1] model scores (column 0 = padding);
  // recent: int64 [B, recent_k] most recent history items, 0-padded on the left.
  // Returns the blended scores (column 0 stays meaningless; callers mask it).
  torch::Tensor Blend(const torch::Tensor& scores, const torch::Tensor& recent) const;

  // The prior terms alone, for tests: log P_pop [num_items + 1] and
  // log P_trans [B, num_items + 1].
  torch::Tensor LogPopularity() const { return log_popularity_; }
  int64_t recent_k() const { return weights_.recent_k; }
  torch::Tensor LogTransition(const torch::Tensor& recent) const;

 private:
  PriorWeights weights_;
  int64_t num_items_;
  torch::Tensor log_popularity_;  // [num_items + 1]
  TrainingPriors counts_;
  std::vector<int64_t> totals_;   // outgoing transitions per item
};

}  // namespace vmle::trainer
