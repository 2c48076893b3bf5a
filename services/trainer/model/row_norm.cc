#include "services/trainer/model/row_norm.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

namespace vmle::trainer {
namespace {

bool FastPath(const torch::Tensor& t) {
  return t.device().is_cpu() && t.is_contiguous() && t.dim() >= 1 &&
         (t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kDouble);
}

// Rows of `width` elements processed in parallel chunks.
template <typename Fn>
void ForRows(int64_t rows, Fn&& fn) {
  at::parallel_for(0, rows, 256, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) fn(r);
  });
}

// <a, b> over `width` elements in eight independent lanes (vectorisable without
// reassociating one running sum).
template <typename T>
T Dot(const T* __restrict a, const T* __restrict b, int64_t width) {
  T lanes[8] = {};
  int64_t j = 0;
  for (; j + 8 <= width; j += 8) {
    for (int l = 0; l < 8; ++l) lanes[l] += a[j + l] * b[j + l];
  }
  T sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
  for (; j < width; ++j) sum += a[j] * b[j];
  return sum;
}

// Forward: y and the clamped norm of each row.
template <typename T>
void Forward(const T* x, T* y, T* norm, int64_t rows, int64_t width, double eps) {
  ForRows(rows, [&](int64_t r) {
    const T* __restrict in = x + r * width;
    const T n = std::max(std::sqrt(Dot(in, in, width)), static_cast<T>(eps));
    const T inv = T(1) / n;
    T* __restrict out = y + r * width;
    for (int64_t j = 0; j < width; ++j) out[j] = in[j] * inv;
    norm[r] = n;
  });
}

template <typename T>
void Backward(const T* g, const T* y, const T* norm, T* dx, int64_t rows, int64_t width, double eps) {
  ForRows(rows, [&](int64_t r) {
    const T* __restrict gr = g + r * width;
    const T* __restrict yr = y + r * width;
    T* __restrict out = dx + r * width;
    const T inv = T(1) / norm[r];
    if (norm[r] <= static_cast<T>(eps)) {
      for (int64_t j = 0; j < width; ++j) out[j] = gr[j] * inv;
      return;
    }
    const T dot = Dot(gr, yr, width);
    for (int64_t j = 0; j < width; ++j) out[j] = (gr[j] - yr[j] * dot) * inv;
  });
}

struct L2NormalizeFunction : public torch::autograd::Function<L2NormalizeFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, double eps) {
    torch::Tensor y;
    torch::Tensor norm;
    if (FastPath(x)) {
      const int64_t width = x.size(-1);
      const int64_t rows = width == 0 ? 0 : x.numel() / width;
      y = torch::empty_like(x);
      norm = torch::empty({rows}, x.options());
      AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "L2NormalizeRows", [&] {
        Forward(x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), norm.data_ptr<scalar_t>(), rows, width, eps);
      });
      norm = norm.view(x.sizes().slice(0, x.dim() - 1));
    } else {
      norm = x.norm(2, -1).clamp_min(eps);
      y = x / norm.unsqueeze(-1);
    }
    ctx->save_for_backward({y, norm});
    ctx->saved_data["eps"] = eps;
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& y = saved[0];
    const torch::Tensor& norm = saved[1];
    const double eps = ctx->saved_data["eps"].toDouble();
    torch::Tensor grad = grads[0];
    torch::Tensor dx;
    if (FastPath(y) && grad.device().is_cpu() && grad.scalar_type() == y.scalar_type()) {
      grad = grad.contiguous();
      const int64_t width = y.size(-1);
      const int64_t rows = width == 0 ? 0 : y.numel() / width;
      dx = torch::empty_like(y);
      const auto n = norm.contiguous();
      AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "L2NormalizeRowsBackward", [&] {
        Backward(grad.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), n.data_ptr<scalar_t>(),
                 dx.data_ptr<scalar_t>(), rows, width, eps);
      });
    } else {
      const auto n = norm.unsqueeze(-1);
      const auto projected = (grad - y * (grad * y).sum(-1, true)) / n;
      dx = torch::where(n > eps, projected, grad / n);
    }
    return {dx, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor L2NormalizeRows(const torch::Tensor& x, double eps) {
  return L2NormalizeFunction::apply(x, eps);
}

}  // namespace vmle::trainer
