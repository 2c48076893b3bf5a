#include "services/trainer/train/loss.h"

#include <algorithm>
#include <limits>

namespace vmle::trainer {
namespace {

constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

torch::Tensor UniformItems(int64_t count, int64_t num_items, const torch::Device& device) {
  return torch::randint(1, num_items + 1, {count}, torch::TensorOptions().dtype(torch::kLong))
      .to(device);
}

}  // namespace

torch::Tensor ComputeLoss(LossKind kind, int64_t num_negatives, const torch::Tensor& states,
                          const torch::Tensor& targets, const torch::Tensor& items, double scale) {
  const int64_t num_items = items.size(0) - 1;
  const int64_t count = states.size(0);
  const int64_t dim = states.size(1);
  switch (kind) {
    case LossKind::kSampledSoftmax: {
      // [G, C, D] x [G, D, K] -> [G, C, K] for groups of C consecutive targets, the last
      // group padded with zero states (and target 0, which no negative equals) whose
      // rows are dropped.
      const int64_t group = kNegativeGroupTargets;
      const int64_t groups = (count + group - 1) / group;
      const int64_t padded = groups * group;
      auto grouped = states;
      auto grouped_targets = targets;
      if (padded != count) {
        grouped = torch::cat({states, states.new_zeros({padded - count, dim})});
        grouped_targets = torch::cat({targets, targets.new_zeros({padded - count})});
      }
      const auto negatives =
          UniformItems(groups * num_negatives, num_items, states.device()).view({groups, 1, num_negatives});
      const auto negative_embeddings =
          items.index_select(0, negatives.view(-1)).view({groups, num_negatives, dim});
      const auto hits = grouped_targets.view({groups, group, 1}).eq(negatives);  // [G, C, K]
      auto negative = torch::bmm(grouped.view({groups, group, dim}), negative_embeddings.transpose(1, 2))
                          .masked_fill(hits, kMinusInf)
                          .view({padded, num_negatives})
                          .narrow(0, 0, count);
      const auto positive = (states * items.index_select(0, targets)).sum(-1, true);
      auto logits = torch::cat({positive, negative}, 1);
      if (scale != 1.0) logits = logits * scale;
      return torch::nn::functional::cross_entropy(logits, torch::zeros({count}, targets.options()));
    }
    case LossKind::kFullSoftmax: {
      // Scores against items 1..N only (the padding row is never a class), so no
      // masked copy of the [P, N] logits is made.
      auto logits = torch::matmul(states, items.narrow(0, 1, num_items).t());
      if (scale != 1.0) logits = logits * scale;
      return torch::nn::functional::cross_entropy(logits, targets - 1);
    }
    case LossKind::kBce: {
      const auto negatives = UniformItems(count, num_items, states.device());
      const auto positive = (states * items.index_select(0, targets)).sum(-1) * scale;
      const auto negative = (states * items.index_select(0, negatives)).sum(-1) * scale;
      return (torch::softplus(-positive) + torch::softplus(negative)).mean();
    }
  }
  return torch::Tensor();
}

}  // namespace vmle::trainer
