#include "services/trainer/train/optimizer.h"

#include <ATen/Parallel.h>

#include <cmath>

namespace vmle::trainer {
namespace {

// One step's scalars, shared by both paths.
struct StepScalars {
  double step_size;        // lr / (1 - beta1^t)
  double inv_sqrt_bc2;     // 1 / sqrt(1 - beta2^t)
  double decay;            // AdamW: 1 - lr * weight_decay; Adam: 1
  double l2;               // Adam: weight_decay; AdamW: 0
};

// Elements [0, n) of one parameter; plain restrict-qualified arrays for the vectoriser.
template <typename T>
void StepRange(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v, int64_t n,
               T b1, T b2, T one_b1, T one_b2, T eps, T step_size, T inv_sqrt_bc2, T decay, T l2) {
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i] + l2 * p[i];
    const T mi = m[i] * b1 + one_b1 * gi;
    const T vi = v[i] * b2 + one_b2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
  }
}

template <typename T>
void FusedStep(T* p, const T* g, T* m, T* v, int64_t n, const AdamSettings& s, const StepScalars& k) {
  at::parallel_for(0, n, 16384, [&](int64_t begin, int64_t end) {
    StepRange<T>(p + begin, g + begin, m + begin, v + begin, end - begin, static_cast<T>(s.beta1),
                 static_cast<T>(s.beta2), static_cast<T>(1 - s.beta1), static_cast<T>(1 - s.beta2),
                 static_cast<T>(s.eps), static_cast<T>(k.step_size), static_cast<T>(k.inv_sqrt_bc2),
                 static_cast<T>(k.decay), static_cast<T>(k.l2));
  });
}

bool Fusable(const torch::Tensor& p, const torch::Tensor& g) {
  return p.device().is_cpu() && p.is_contiguous() && g.is_contiguous() && !g.is_sparse() &&
         g.scalar_type() == p.scalar_type() &&
         (p.scalar_type() == torch::kFloat || p.scalar_type() == torch::kDouble);
}

}  // namespace

AdamOptimizer::AdamOptimizer(std::vector<torch::Tensor> params, const AdamSettings& settings)
    : params_(std::move(params)), settings_(settings) {
  for (const auto& p : params_) {
    exp_avg_.push_back(torch::zeros_like(p, torch::MemoryFormat::Contiguous));
    exp_avg_sq_.push_back(torch::zeros_like(p, torch::MemoryFormat::Contiguous));
  }
  steps_.assign(params_.size(), 0);
}

void AdamOptimizer::ZeroGrad() {
  for (auto& p : params_) p.mutable_grad() = torch::Tensor();
}

void AdamOptimizer::Step() {
  torch::NoGradGuard no_grad;
  const AdamSettings& s = settings_;
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor& p = params_[i];
    const torch::Tensor& grad = p.grad();
    if (!grad.defined()) continue;
    const auto t = static_cast<double>(++steps_[i]);
    StepScalars k;
    k.step_size = s.lr / (1 - std::pow(s.beta1, t));
    k.inv_sqrt_bc2 = 1 / std::sqrt(1 - std::pow(s.beta2, t));
    k.decay = s.decoupled_weight_decay ? 1 - s.lr * s.weight_decay : 1.0;
    k.l2 = s.decoupled_weight_decay ? 0.0 : s.weight_decay;
    torch::Tensor& m = exp_avg_[i];
    torch::Tensor& v = exp_avg_sq_[i];
    if (Fusable(p, grad)) {
      AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "AdamStep", [&] {
        FusedStep(p.data_ptr<scalar_t>(), grad.data_ptr<scalar_t>(), m.data_ptr<scalar_t>(),
                  v.data_ptr<scalar_t>(), p.numel(), s, k);
      });
      continue;
    }
    if (k.decay != 1.0) p.mul_(k.decay);
    const torch::Tensor g = k.l2 != 0 ? grad.add(p, k.l2) : grad;
    m.mul_(s.beta1).add_(g, 1 - s.beta1);
    v.mul_(s.beta2).addcmul_(g, g, 1 - s.beta2);
    p.addcdiv_(m, v.sqrt().mul_(k.inv_sqrt_bc2).add_(s.eps), -k.step_size);
  }
}

}  // namespace vmle::trainer
