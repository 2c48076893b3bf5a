// Dropout with a fast mask on CPU.
//
// torch's CPU dropout draws every mask element from its Mersenne Twister, which on
// the reference SASRec costs a fifth of a training epoch. On CPU this module draws one
// 64-bit seed from torch's default generator per call (so torch::manual_seed still
// fixes every mask) and expands it with SplitMix64 in fixed chunks, so a mask does not
// depend on the thread count. Each element is kept with probability 1 - p (to 2^-16)
// and scaled by 1 / (1 - p), as torch's dropout does. Other devices use torch's dropout.
#pragma once

#include <torch/torch.h>

namespace vmle::trainer {

class DropoutImpl : public torch::nn::Module {
 public:
  explicit DropoutImpl(double p);
  // Identity in eval mode or for p = 0.
  torch::Tensor forward(const torch::Tensor& x);
  // Whether forward changes its input now (training mode and p > 0).
  bool active() const { return is_training() && p_ > 0; }

 private:
  double p_;
};
TORCH_MODULE(Dropout);

// The scaled keep mask: `sizes` elements of `dtype`, each 1 / keep with probability
// keep and 0 otherwise, from `seed`. Exposed for tests.
torch::Tensor DropoutMask(at::IntArrayRef sizes, double keep, uint64_t seed, torch::ScalarType dtype);

}  // namespace vmle::trainer
