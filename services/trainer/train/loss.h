// Training losses, computed on real (non-padding) target positions only.
#pragma once

#include <torch/torch.h>

#include "services/trainer/train/train_config.h"

namespace vmle::trainer {

// states: float [B, T, D] user states; targets: int64 [B, T] item ids, 0 where a
// position has no target (padding, or not trained on); items: float
// [num_items + 1, D] output embeddings (row 0 = padding); scale: logit scale.
// The loss is the mean over real targets. Negatives come from torch's default
// generator.
//   sampled_softmax: cross-entropy of the target against num_negatives uniform
//     items, drawn once per pair of sequences and shared by their positions;
//     negatives equal to the target are masked.
//   full_softmax: cross-entropy against every item (padding excluded).
//   bce: binary cross-entropy of the target vs one uniform negative per row.
torch::Tensor ComputeLoss(LossKind kind, int64_t num_negatives, const torch::Tensor& states,
                          const torch::Tensor& targets, const torch::Tensor& items, double scale);

}  // namespace vmle::trainer
