#include "services/trainer/model/sasrec.h"

#include <gtest/gtest.h>

#include "services/trainer/train/train_config.h"

namespace vmle::trainer {
namespace {

ModelConfig TinyConfig() {
  ModelConfig c;
  c.num_items = 20;
  c.hidden_dim = 8;
  c.num_heads = 2;
  c.num_blocks = 2;
  c.max_len = 6;
  c.dropout = 0;
  c.attn_dropout = 0;
  return c;
}

torch::Tensor Batch() {
  // Left-padded; the first row is all padding but its last position.
  return torch::tensor({0, 0, 0, 0, 0, 3,  //
                        0, 0, 4, 5, 6, 7,  //
                        1, 2, 3, 4, 5, 6},
                       torch::kLong)
      .view({3, 6});
}

TEST(SASRecTest, LeftPaddingGivesFiniteStatesAndGradients) {
  torch::manual_seed(0);
  SASRec model(TinyConfig());
  auto states = model->UserStates(Batch());
  ASSERT_EQ(states.sizes(), (std::vector<int64_t>{3, 6, 8}));
  EXPECT_TRUE(torch::isfinite(states).all().item<bool>());
  (states.select(1, 5) * model->OutputEmbeddings().narrow(0, 1, 3).sum(0)).sum().backward();
  for (const auto& p : model->parameters()) {
    if (p.grad().defined()) {
      EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());
    }
  }
}

TEST(SASRecTest, StateAtAPositionIgnoresLaterItems) {
  torch::manual_seed(0);
  SASRec model(TinyConfig());
  model->eval();
  auto a = Batch();
  auto b = a.clone();
  b[2][5] = 19;  // change only the last item of row 2
  const auto sa = model->UserStates(a);
  const auto sb = model->UserStates(b);
  EXPECT_TRUE(torch::allclose(sa[2].narrow(0, 0, 5), sb[2].narrow(0, 0, 5)));
  EXPECT_FALSE(torch::allclose(sa[2][5], sb[2][5]));
}

TEST(SASRecTest, PaddingDoesNotChangeTheStatesOfRealItems) {
  torch::manual_seed(0);
  SASRec model(TinyConfig());
  model->eval();
  // The same history padded to 6 and to 4 positions gives the same last state.
  const auto long_pad = torch::tensor({0, 0, 0, 4, 5, 6}, torch::kLong).view({1, 6});
  const auto short_pad = torch::tensor({0, 4, 5, 6}, torch::kLong).view({1, 4});
  EXPECT_TRUE(torch::allclose(model->UserStates(long_pad)[0][5], model->UserStates(short_pad)[0][3],
                              1e-5, 1e-6));
}

// Each architecture switch changes the computation.
struct Switch {
  std::string name;
  std::string value;
};

class SwitchTest : public ::testing::TestWithParam<Switch> {};

TEST_P(SwitchTest, ChangesTheOutput) {
  TrainConfig base;
  base.model = TinyConfig();
  auto changed = ApplySettings(base, {{GetParam().name, GetParam().value}});
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  changed->model.num_items = base.model.num_items;
  torch::manual_seed(0);
  SASRec a(base.model);
  torch::manual_seed(0);
  SASRec b(changed->model);
  a->eval();
  b->eval();
  const auto sa = a->UserStates(Batch()).select(1, 5);
  const auto sb = b->UserStates(Batch()).select(1, 5);
  const auto scores_a = torch::matmul(sa, a->OutputEmbeddings().t());
  const auto scores_b = torch::matmul(sb, b->OutputEmbeddings().t());
  EXPECT_FALSE(torch::allclose(scores_a, scores_b, 1e-4, 1e-5)) << GetParam().name;
  // Gradients reach every parameter of the switched model.
  b->train();
  (torch::matmul(b->UserStates(Batch()), b->OutputEmbeddings().t()).pow(2)).sum().backward();
  for (const auto& named : b->named_parameters()) {
    ASSERT_TRUE(named.value().grad().defined()) << named.key();
    EXPECT_GT(named.value().grad().abs().sum().item<double>(), 0) << named.key();
  }
}

INSTANTIATE_TEST_SUITE_P(Switches, SwitchTest,
                         ::testing::Values(Switch{"pre_norm", "true"},
                                           Switch{"feed_forward", "swiglu"},
                                           Switch{"positions", "rope"},
                                           Switch{"positions", "none"},
                                           Switch{"tie_embeddings", "false"},
                                           Switch{"pooling", "mean"},
                                           Switch{"pooling", "last_k_mean"}),
                         [](const ::testing::TestParamInfo<Switch>& info) {
                           return info.param.name + "_" + info.param.value;
                         });

}  // namespace
}  // namespace vmle::trainer
