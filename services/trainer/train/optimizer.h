// Adam and AdamW with torch::optim's update rule, fused on CPU.
//
// Per parameter p with gradient g, at step t:
//   Adam:  g += weight_decay * p                        (L2 penalty on the gradient)
//   AdamW: p *= 1 - lr * weight_decay                   (decoupled decay)
//   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// torch::optim runs this as some eight passes over each parameter; over the item
// table, a training step's largest parameter, those passes cost more than the
// forward pass. On CPU, for contiguous float or double parameters, this runs one
// pass per parameter; elsewhere it runs the same formula in torch ops. ZeroGrad drops
// the gradients (torch's set_to_none), and a parameter without a gradient in a step is
// skipped: t counts the steps that updated that parameter, as in torch.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace vmle::trainer {

struct AdamSettings {
  bool decoupled_weight_decay = false;  // AdamW
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
};

class AdamOptimizer {
 public:
  AdamOptimizer(std::vector<torch::Tensor> params, const AdamSettings& settings);

  // Drops every gradient, so the next backward writes fresh ones instead of adding
  // to zeroed buffers.
  void ZeroGrad();
  void Step();

 private:
  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> exp_avg_;
  std::vector<torch::Tensor> exp_avg_sq_;
  std::vector<int64_t> steps_;  // per parameter
  AdamSettings settings_;
};

}  // namespace vmle::trainer
