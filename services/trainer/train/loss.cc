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

// x [n, ...] with zero rows appended up to `rows`.
torch::Tensor Padded(const torch::Tensor& x, int64_t rows) {
  if (x.size(0) == rows) return x;
  auto sizes = x.sizes().vec();
  sizes[0] = rows - x.size(0);
  return torch::cat({x, x.new_zeros(sizes)});
}

// The sampled softmax's logits [P, 1 + K] from the target states [P, D] and one gather
// of item rows [P + G * K, D]: the P targets' rows, then each group's K negatives.
// Column 0 is the target's logit, columns 1..K the group's negatives, -inf where a
// negative equals the target. Groups are C consecutive targets; the last one may be
// partial.
//
// One function for both, with its own backward, because autograd of the plain ops
// costs more than the products themselves: a transposed bmm operand comes back as a
// gradient the gather's backward copies, and two gathers mean two dense [N + 1, D]
// scatters and their sum. Here the rows' gradient comes out in the gather's layout,
// for one scatter.
struct SampledLogits : public torch::autograd::Function<SampledLogits> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& states,
                               const torch::Tensor& rows, const torch::Tensor& hits, int64_t group) {
    const int64_t count = states.size(0);
    const int64_t dim = states.size(1);
    const int64_t groups = hits.size(0);
    const int64_t padded = groups * group;
    const int64_t negatives = hits.size(2);
    const auto targets = rows.narrow(0, 0, count);
    const auto negative_rows = rows.narrow(0, count, groups * negatives).view({groups, negatives, dim});
    const auto grouped = Padded(states, padded).view({groups, group, dim});
    auto logits = torch::empty({padded, 1 + negatives}, states.options());
    logits.narrow(0, 0, count).narrow(1, 0, 1).copy_((states * targets).sum(-1, true));
    logits.narrow(1, 1, negatives)
        .view({groups, group, negatives})
        .copy_(torch::bmm(grouped, negative_rows.transpose(1, 2)).masked_fill_(hits, kMinusInf));
    ctx->save_for_backward({grouped, rows});
    ctx->saved_data["count"] = count;
    return logits.narrow(0, 0, count);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& grouped = saved[0];  // [G, C, D]
    const torch::Tensor& rows = saved[1];
    const int64_t count = ctx->saved_data["count"].toInt();
    const int64_t groups = grouped.size(0);
    const int64_t group = grouped.size(1);
    const int64_t dim = grouped.size(2);
    const int64_t negatives = (rows.size(0) - count) / groups;
    const auto grad = Padded(grads[0], groups * group);  // [P', 1 + K]
    const auto grad_target = grad.narrow(1, 0, 1).narrow(0, 0, count);
    const auto grad_negatives = grad.narrow(1, 1, negatives).reshape({groups, group, negatives});
    const auto negative_rows = rows.narrow(0, count, groups * negatives).view({groups, negatives, dim});
    const auto states = grouped.view({groups * group, dim}).narrow(0, 0, count);
    auto grad_states = torch::bmm(grad_negatives, negative_rows).view({groups * group, dim}).narrow(0, 0, count);
    grad_states.addcmul_(grad_target, rows.narrow(0, 0, count));
    auto grad_rows = torch::empty_like(rows);
    auto grad_target_rows = grad_rows.narrow(0, 0, count);
    torch::mul_out(grad_target_rows, grad_target, states);
    auto grad_negative_rows = grad_rows.narrow(0, count, groups * negatives).view({groups, negatives, dim});
    torch::bmm_out(grad_negative_rows, grad_negatives.transpose(1, 2), grouped);
    return {grad_states, grad_rows, torch::Tensor(), torch::Tensor()};
  }

};

}  // namespace

torch::Tensor ComputeLoss(LossKind kind, int64_t num_negatives, const torch::Tensor& states,
                          const torch::Tensor& targets, const torch::Tensor& items, double scale) {
  const int64_t num_items = items.size(0) - 1;
  const int64_t count = states.size(0);
  switch (kind) {
    case LossKind::kSampledSoftmax: {
      // Groups of C consecutive targets share K negatives; the last group is padded with
      // target 0, which no negative equals (SampledLogits drops its rows).
      const int64_t group = kNegativeGroupTargets;
      const int64_t groups = (count + group - 1) / group;
      const auto grouped_targets = Padded(targets, groups * group);
      const auto negatives =
          UniformItems(groups * num_negatives, num_items, states.device()).view({groups, 1, num_negatives});
      const auto hits = grouped_targets.view({groups, group, 1}).eq(negatives);  // [G, C, K]
      const auto rows = items.index_select(0, torch::cat({targets, negatives.view(-1)}));
      auto logits = SampledLogits::apply(states, rows, hits, group);
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
