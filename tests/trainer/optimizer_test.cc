// The fused Adam and AdamW against torch::optim on the same gradients, with gradients
// set to none between steps (so a parameter without one is skipped in both).
#include "services/trainer/train/optimizer.h"

#include <gtest/gtest.h>

namespace vmle::trainer {
namespace {

struct Case {
  bool adamw;
  torch::ScalarType dtype;
  bool contiguous;  // false: a transposed parameter, which takes the torch-ops path
};

class AdamOptimizerTest : public ::testing::TestWithParam<Case> {};

TEST_P(AdamOptimizerTest, MatchesTorchOptimOverSteps) {
  const Case c = GetParam();
  AdamSettings settings;
  settings.decoupled_weight_decay = c.adamw;
  settings.lr = 3e-2;
  settings.beta1 = 0.9;
  settings.beta2 = 0.98;
  settings.weight_decay = c.adamw ? 1e-2 : 1e-3;
  torch::manual_seed(4);
  const auto opts = torch::TensorOptions().dtype(c.dtype);
  auto init_a = torch::randn({37, 6}, opts);
  auto init_b = torch::randn({5}, opts);
  auto make = [&](const torch::Tensor& t) {
    auto p = t.clone();
    if (!c.contiguous && p.dim() == 2) p = p.t().contiguous().t();
    return p.requires_grad_(true);
  };
  std::vector<torch::Tensor> ours = {make(init_a), make(init_b)};
  std::vector<torch::Tensor> reference = {make(init_a), make(init_b)};
  ASSERT_EQ(ours[0].is_contiguous(), c.contiguous);

  AdamOptimizer optimizer(ours, settings);
  std::unique_ptr<torch::optim::Optimizer> torch_optimizer;
  if (c.adamw) {
    torch_optimizer = std::make_unique<torch::optim::AdamW>(
        reference, torch::optim::AdamWOptions(settings.lr)
                       .betas({settings.beta1, settings.beta2})
                       .weight_decay(settings.weight_decay));
  } else {
    torch_optimizer = std::make_unique<torch::optim::Adam>(
        reference, torch::optim::AdamOptions(settings.lr)
                       .betas({settings.beta1, settings.beta2})
                       .weight_decay(settings.weight_decay));
  }
  for (int step = 0; step < 6; ++step) {
    const auto target = torch::randn({37, 6}, opts);
    auto loss_of = [&](const std::vector<torch::Tensor>& p) {
      auto loss = (p[0] - target).pow(2).sum();
      // The second parameter gets a gradient every other step only.
      if (step % 2 == 0) loss = loss + p[1].pow(3).sum();
      return loss;
    };
    optimizer.ZeroGrad();
    loss_of(ours).backward();
    optimizer.Step();
    for (auto& p : reference) p.mutable_grad() = torch::Tensor();  // set_to_none
    loss_of(reference).backward();
    torch_optimizer->step();
    const double tolerance = c.dtype == torch::kDouble ? 1e-12 : 1e-5;
    for (size_t i = 0; i < ours.size(); ++i) {
      EXPECT_TRUE(torch::allclose(ours[i], reference[i], tolerance, tolerance))
          << "parameter " << i << " after step " << step + 1 << ": max difference "
          << (ours[i] - reference[i]).abs().max().item<double>();
    }
  }
}

TEST(AdamOptimizerTest, ZeroGradDropsGradients) {
  auto p = torch::ones({3}, torch::kFloat).requires_grad_(true);
  AdamOptimizer optimizer({p}, AdamSettings{});
  (p * 2).sum().backward();
  ASSERT_TRUE(p.grad().defined());
  optimizer.ZeroGrad();
  EXPECT_FALSE(p.grad().defined());
  optimizer.Step();  // nothing to apply
  EXPECT_TRUE(torch::equal(p, torch::ones({3})));
}

INSTANTIATE_TEST_SUITE_P(Variants, AdamOptimizerTest,
                         ::testing::Values(Case{false, torch::kFloat, true}, Case{true, torch::kFloat, true},
                                           Case{false, torch::kDouble, true}, Case{true, torch::kDouble, true},
                                           Case{false, torch::kFloat, false}, Case{true, torch::kDouble, false}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::string(info.param.adamw ? "AdamW" : "Adam") +
                                  (info.param.dtype == torch::kDouble ? "Double" : "Float") +
                                  (info.param.contiguous ? "Fused" : "TorchOps");
                         });

}  // namespace
}  // namespace vmle::trainer
