// Full-ranking leave-one-out evaluation (../shared/data/README.md): each evaluated
// user's target is ranked against all items; the user's history items are masked
// except the target itself.
//
// The evaluator prepares its batches once (users sorted by history length, so that
// little padding is scored) and can be run after every epoch.
// Thread-safety: Evaluate is not re-entrant; use one Evaluator per thread.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "services/trainer/data/dataset.h"
#include "services/trainer/data/split.h"
#include "services/trainer/eval/metrics.h"
#include "services/trainer/eval/priors.h"
#include "services/trainer/model/recommender.h"

namespace vmle::trainer {

class Evaluator {
 public:
  // The model reads at most max_len most recent history items; masking uses the
  // whole history. `priors` (optional, must outlive the evaluator) are blended into
  // the model's scores before ranking.
  Evaluator(const Dataset& dataset, EvalSplit split, int64_t max_len, int64_t batch_size,
            const ScorePriors* priors = nullptr);

  // Ranks every case with `model` (switched to eval mode, no gradients) on `device`.
  // Torch errors propagate as c10::Error; the trainer turns them into a Status.
  RankingMetrics Evaluate(SequentialRecommender& model, const torch::Device& device);

  int64_t num_cases() const { return num_cases_; }

 private:
  struct Batch {
    torch::Tensor inputs;     // int64 [B, T], left-padded
    torch::Tensor targets;    // int64 [B, 1]
    torch::Tensor mask_rows;  // int64 [M]: row of each distinct history item to mask
    torch::Tensor mask_cols;  // int64 [M]: the item (never the row's target)
    torch::Tensor recent;     // int64 [B, k]: last k history items, for the priors
  };
  const ScorePriors* priors_;
  std::vector<Batch> batches_;
  int64_t num_cases_ = 0;
};

// 0-based ranks of targets given full score rows: the number of items scoring
// strictly higher than the target after masking (history except the target, and
// the padding item 0). scores: float [B, num_items + 1] (may be modified);
// targets: int64 [B, 1]; the mask lists each (row, history item) once and never a
// row's own target.
torch::Tensor RankTargets(torch::Tensor& scores, const torch::Tensor& targets,
                          const torch::Tensor& mask_rows, const torch::Tensor& mask_cols);

// The same ranks after `priors` re-rank the top rerank_topk items (priors.h): a
// target inside the top K of the masked scores gets its rank among them by re-rank
// score, one below keeps its rank. scores is masked in place. recent: the rows'
// most recent history items, as for ScorePriors.
torch::Tensor RankTargetsReranked(torch::Tensor& scores, const torch::Tensor& targets,
                                  const torch::Tensor& mask_rows, const torch::Tensor& mask_cols,
                                  const ScorePriors& priors, const torch::Tensor& recent);

}  // namespace vmle::trainer
