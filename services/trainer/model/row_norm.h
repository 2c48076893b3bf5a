// Row-wise L2 normalisation, y = x / max(||x||_2, eps) over the last dimension, as
// torch::nn::functional::normalize(p=2, dim=-1) computes it, with its gradient
//   dx = (g - y <g, y>) / ||x||   where ||x|| > eps,   dx = g / eps   elsewhere.
//
// torch's composite normalize differentiates through a norm, a clamp, an expand and a
// division, several passes over the whole tensor each way; scoring against the
// normalised item table (embedding_norm) ran that over every row at every step. On
// CPU, for contiguous float or double input, this computes each row in one pass
// forward and one backward; other devices and layouts use the same formula in torch ops.
#pragma once

#include <torch/torch.h>

namespace vmle::trainer {

torch::Tensor L2NormalizeRows(const torch::Tensor& x, double eps);

}  // namespace vmle::trainer
