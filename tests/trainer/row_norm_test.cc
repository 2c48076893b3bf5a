// L2NormalizeRows against torch's normalize: values and gradients in double, on the
// fast path and the torch-ops path, with a zero row (the padding item).
#include "services/trainer/model/row_norm.h"

#include <gtest/gtest.h>

namespace vmle::trainer {
namespace {

torch::Tensor TorchNormalize(const torch::Tensor& x, double eps) {
  return torch::nn::functional::normalize(x, torch::nn::functional::NormalizeFuncOptions().p(2).dim(-1).eps(eps));
}

class RowNormTest : public ::testing::TestWithParam<bool> {};

TEST_P(RowNormTest, MatchesTorchNormalizeAndItsGradient) {
  const bool contiguous = GetParam();
  torch::manual_seed(5);
  auto base = torch::randn({7, 13}, torch::kDouble);
  base[0].zero_();                 // below eps: divided by eps, as torch does
  base[3] = base[3] * 1e-9;        // a tiny row, also below eps
  auto input = contiguous ? base.clone() : base.t().contiguous().t();
  ASSERT_EQ(input.is_contiguous(), contiguous);
  auto ours = input.clone().requires_grad_(true);  // clone keeps the strides
  auto theirs = input.clone().requires_grad_(true);
  ASSERT_EQ(ours.is_contiguous(), contiguous);
  const double eps = 1e-6;
  const auto weights = torch::randn({7, 13}, torch::kDouble);
  const auto y_ours = L2NormalizeRows(ours, eps);
  const auto y_theirs = TorchNormalize(theirs, eps);
  EXPECT_TRUE(torch::allclose(y_ours, y_theirs, 1e-12, 1e-12));
  (y_ours * weights).sum().backward();
  (y_theirs * weights).sum().backward();
  EXPECT_TRUE(torch::allclose(ours.grad(), theirs.grad(), 1e-9, 1e-9))
      << "max difference " << (ours.grad() - theirs.grad()).abs().max().item<double>();
}

TEST(RowNormTest, FloatRowsHaveUnitNorm) {
  torch::manual_seed(6);
  const auto y = L2NormalizeRows(torch::randn({100, 128}), 1e-6);
  EXPECT_TRUE(torch::allclose(y.norm(2, -1), torch::ones({100}), 1e-5, 1e-5));
}

INSTANTIATE_TEST_SUITE_P(Layouts, RowNormTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "Contiguous" : "Strided");
                         });

}  // namespace
}  // namespace vmle::trainer
