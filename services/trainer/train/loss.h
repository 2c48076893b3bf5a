// Training losses over the target positions of a batch.
#pragma once

#include <torch/torch.h>

#include "services/trainer/util/configuration.h"

namespace vmle::trainer {

// Targets of consecutive positions (in the batch's example order) that share one
// draw of negatives in the sampled softmax.
inline constexpr int64_t kNegativeGroupTargets = 16;

// states: float [P, D], the user state at each target position; targets: int64 [P]
// item ids (>= 1), in the batch's example order; items: float [num_items + 1, D]
// output embeddings (row 0 = padding); scale: logit scale. The loss is the mean over
// the targets. Negatives come from torch's default generator.
//   sampled_softmax: cross-entropy of the target against num_negatives uniform
//     items, drawn once per kNegativeGroupTargets consecutive targets and shared by
//     them; negatives equal to the target are masked. The groups depend only on the
//     order of the targets, not on how sequences are laid out in rows.
//   full_softmax: cross-entropy against every item (padding excluded).
//   bce: binary cross-entropy of the target vs one uniform negative per target.
torch::Tensor ComputeLoss(LossKind kind, int64_t num_negatives, const torch::Tensor& states,
                          const torch::Tensor& targets, const torch::Tensor& items, double scale);

}  // namespace vmle::trainer
