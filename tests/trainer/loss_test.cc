// Gradients of each loss, checked against central finite differences in double
// precision on a tiny problem.
#include "services/trainer/train/loss.h"

#include <gtest/gtest.h>

namespace vmle::trainer {
namespace {

class LossGradientTest : public ::testing::TestWithParam<LossKind> {};

double LossValue(LossKind kind, const torch::Tensor& states, const torch::Tensor& targets,
                 const torch::Tensor& items) {
  torch::manual_seed(7);  // the same negatives every time
  return ComputeLoss(kind, 4, states, targets, items, 1.0).item<double>();
}

TEST_P(LossGradientTest, MatchesFiniteDifferences) {
  torch::manual_seed(1);
  const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  // 19 targets: one full group of kNegativeGroupTargets and a partial one.
  auto states = torch::randn({19, 5}, opts).requires_grad_(true);
  auto items = torch::randn({9, 5}, opts).requires_grad_(true);
  const auto targets = torch::randint(1, 9, {19}, torch::kLong);

  torch::manual_seed(7);
  auto loss = ComputeLoss(GetParam(), 4, states, targets, items, 1.0);
  ASSERT_TRUE(std::isfinite(loss.item<double>()));
  loss.backward();
  const auto state_grad = states.grad().clone();
  const auto item_grad = items.grad().clone();

  const double eps = 1e-6;
  torch::NoGradGuard no_grad;
  auto check = [&](torch::Tensor& param, const torch::Tensor& grad) {
    auto flat = param.view(-1);
    auto g = grad.view(-1);
    for (int64_t i = 0; i < flat.numel(); ++i) {
      const double original = flat[i].item<double>();
      flat[i] = original + eps;
      const double up = LossValue(GetParam(), states, targets, items);
      flat[i] = original - eps;
      const double down = LossValue(GetParam(), states, targets, items);
      flat[i] = original;
      EXPECT_NEAR((up - down) / (2 * eps), g[i].item<double>(), 1e-6) << "element " << i;
    }
  };
  check(states, state_grad);
  check(items, item_grad);
  // The padding row of the item table is never scored.
  EXPECT_EQ(item_grad[0].abs().sum().item<double>(), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Losses, LossGradientTest,
                         ::testing::Values(LossKind::kSampledSoftmax, LossKind::kFullSoftmax,
                                           LossKind::kBce),
                         [](const ::testing::TestParamInfo<LossKind>& info) {
                           switch (info.param) {
                             case LossKind::kSampledSoftmax: return std::string("SampledSoftmax");
                             case LossKind::kFullSoftmax: return std::string("FullSoftmax");
                             case LossKind::kBce: return std::string("Bce");
                           }
                           return std::string("Unknown");
                         });

TEST(LossTest, FullSoftmaxNeverPredictsPadding) {
  torch::manual_seed(3);
  auto states = torch::randn({1, 4});
  auto items = torch::randn({5, 4});
  items[0] = states[0] * 100;  // padding row would dominate if not excluded
  const auto targets = torch::tensor({2}, torch::kLong);
  const double with_padding_masked =
      ComputeLoss(LossKind::kFullSoftmax, 0, states, targets, items, 1.0).item<double>();
  const auto logits = torch::matmul(states.view({1, 4}), items.narrow(0, 1, 4).t());
  const double expected =
      torch::nn::functional::cross_entropy(logits, torch::tensor({1}, torch::kLong)).item<double>();
  EXPECT_NEAR(with_padding_masked, expected, 1e-5);
}

}  // namespace
}  // namespace vmle::trainer

namespace vmle::trainer {
namespace {

// The sampled softmax written out with plain ops on the same negatives: target i
// shares the draw of group i / kNegativeGroupTargets, and a negative equal to the
// target is left out.
TEST(LossTest, SampledSoftmaxMatchesPlainComputation) {
  torch::manual_seed(2);
  const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  const int64_t count = 37;  // two full groups and a partial one
  const int64_t num_negatives = 6;
  const auto states = torch::randn({count, 3}, opts);
  const auto items = torch::randn({11, 3}, opts);
  const auto targets = torch::randint(1, 11, {count}, torch::kLong);
  torch::manual_seed(9);
  const double loss = ComputeLoss(LossKind::kSampledSoftmax, num_negatives, states, targets, items, 2.0)
                          .item<double>();
  torch::manual_seed(9);
  const int64_t groups = (count + kNegativeGroupTargets - 1) / kNegativeGroupTargets;
  const auto negatives = torch::randint(1, 11, {groups, num_negatives}, torch::kLong);
  double expected = 0;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t target = targets[i].item<int64_t>();
    const double positive = 2.0 * states[i].dot(items[target]).item<double>();
    double denominator = std::exp(positive);
    for (int64_t k = 0; k < num_negatives; ++k) {
      const int64_t negative = negatives[i / kNegativeGroupTargets][k].item<int64_t>();
      if (negative == target) continue;
      denominator += std::exp(2.0 * states[i].dot(items[negative]).item<double>());
    }
    expected += std::log(denominator) - positive;
  }
  EXPECT_NEAR(loss, expected / count, 1e-12);
}

}  // namespace
}  // namespace vmle::trainer
