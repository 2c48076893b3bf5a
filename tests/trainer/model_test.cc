#include <gtest/gtest.h>

#include <cctype>
#include <map>
#include <memory>
#include <string>

#include "services/trainer/model/factory.h"
#include "services/trainer/model/hstu.h"
#include "services/trainer/util/configuration.h"

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

// A tiny HSTU at its reference settings (relative bias, normalised embeddings).
ModelConfig TinyHstuConfig() {
  ModelConfig c = TinyConfig();
  c.linear_dim = 4;
  c.attention_dim = 6;
  c.positions = PositionKind::kRelativeBias;
  c.embedding_norm = true;
  return c;
}

TrainConfig TinyTrainConfig(Backbone backbone) {
  TrainConfig c;
  c.backbone = backbone;
  c.model = backbone == Backbone::kHSTU ? TinyHstuConfig() : TinyConfig();
  return c;
}

std::string BackboneLabel(Backbone backbone) {
  return backbone == Backbone::kHSTU ? "hstu" : "sasrec";
}

// The contract of recommender.h, for every backbone.
class BackboneTest : public ::testing::TestWithParam<Backbone> {
 protected:
  std::shared_ptr<SequentialRecommender> Make() {
    torch::manual_seed(0);
    return MakeModel(TinyTrainConfig(GetParam()));
  }
};

TEST_P(BackboneTest, LeftPaddingGivesFiniteStatesAndGradients) {
  auto model = Make();
  auto states = model->UserStates(Batch());
  ASSERT_EQ(states.sizes(), (std::vector<int64_t>{3, 6, 8}));
  EXPECT_TRUE(torch::isfinite(states).all().item<bool>());
  (states.select(1, 5) * model->OutputEmbeddings().narrow(0, 1, 3).sum(0)).sum().backward();
  for (const auto& named : model->named_parameters()) {
    ASSERT_TRUE(named.value().grad().defined()) << named.key();
    EXPECT_TRUE(torch::isfinite(named.value().grad()).all().item<bool>()) << named.key();
  }
}

TEST_P(BackboneTest, StateAtAPositionIgnoresLaterItems) {
  auto model = Make();
  model->eval();
  auto a = Batch();
  auto b = a.clone();
  b[2][5] = 19;  // change only the last item of row 2
  const auto sa = model->UserStates(a);
  const auto sb = model->UserStates(b);
  EXPECT_TRUE(torch::allclose(sa[2].narrow(0, 0, 5), sb[2].narrow(0, 0, 5)));
  EXPECT_FALSE(torch::allclose(sa[2][5], sb[2][5]));
}

TEST_P(BackboneTest, PaddingDoesNotChangeTheStatesOfRealItems) {
  auto model = Make();
  model->eval();
  // The same history padded to 6 and to 4 positions gives the same last state.
  const auto long_pad = torch::tensor({0, 0, 0, 4, 5, 6}, torch::kLong).view({1, 6});
  const auto short_pad = torch::tensor({0, 4, 5, 6}, torch::kLong).view({1, 4});
  EXPECT_TRUE(torch::allclose(model->UserStates(long_pad)[0][5], model->UserStates(short_pad)[0][3],
                              1e-5, 1e-6));
}

// LastStates reads the last position only (with one block, the last query's masks
// only, and SASRec folds the query into the key weights): the same states as the
// last column of the full pass, with several blocks or one, every position kind.
TEST_P(BackboneTest, LastStatesAreTheLastColumnOfTheUserStates) {
  using Settings = std::vector<std::pair<std::string, std::string>>;
  for (const std::string blocks : {"2", "1"}) {
    for (const Settings& settings : std::vector<Settings>{{{"pre_norm", "false"}},
                                                          {{"pre_norm", "true"}},
                                                          {{"positions", "rope"}},
                                                          {{"positions", "relative_bias"}},
                                                          {{"positions", "absolute_relative"}},
                                                          {{"positions", "none"}},
                                                          {{"pooling", "mean"}},
                                                          {{"num_heads", "1"}}}) {
      Settings all = settings;
      all.emplace_back("num_blocks", blocks);
      auto config = ApplyTextSettings(TinyTrainConfig(GetParam()), all);
      ASSERT_TRUE(config.ok()) << config.status().ToString();
      torch::manual_seed(0);
      auto model = MakeModel(*config);
      model->eval();
      const SequenceBatch batch = LeftPadded(Batch(), model->max_len());
      EXPECT_TRUE(torch::allclose(model->LastStates(batch), model->UserStates(batch).select(1, 5), 1e-5, 1e-6))
          << settings[0].first << "=" << settings[0].second << ", num_blocks=" << blocks;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backbones, BackboneTest,
                         ::testing::Values(Backbone::kSASRec, Backbone::kHSTU),
                         [](const ::testing::TestParamInfo<Backbone>& info) {
                           return BackboneLabel(info.param);
                         });

TEST(HSTUTest, NormalisedScoresAreCosinesOverTheTemperature) {
  torch::manual_seed(0);
  ModelConfig config = TinyHstuConfig();
  config.temperature = 0.1;
  HSTU model(config);
  const auto states = model->UserStates(Batch());
  const auto real = Batch().ne(0);  // padding positions are zero states
  EXPECT_TRUE(torch::allclose(states.norm(2, -1).index({real}), torch::ones({real.sum().item<int64_t>()}),
                              1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(model->OutputEmbeddings().narrow(0, 1, 20).norm(2, -1),
                              torch::ones({20}), 1e-4, 1e-5));
  EXPECT_DOUBLE_EQ(model->LogitScale(), 10.0);
}

// One block computes, per head, SiLU(q k^T + bias) / n over the allowed keys (no
// softmax), n being the query's number of allowed keys, then x + W_o(u * LN(A v)).
TEST(HSTUTest, BlockComputesPointwiseAttentionAsDocumented) {
  torch::manual_seed(0);
  const ModelConfig config = TinyHstuConfig();  // 2 heads, linear 4, attention 6
  HSTUBlock block(config);
  block->eval();
  const auto x = torch::randn({1, 4, 8});
  const SequenceBatch batch = LeftPadded(torch::tensor({0, 1, 2, 3}, torch::kLong).view({1, 4}), 6);
  const auto context = MakeAttentionContext(batch, AttentionKind::kPointwise, torch::kFloat);
  const auto& allowed = context.allowed;
  std::map<std::string, torch::Tensor> p;
  for (const auto& named : block->named_parameters()) p[named.key()] = named.value().detach();
  auto norm = [](const torch::Tensor& t, const torch::Tensor& w, const torch::Tensor& b) {
    return torch::layer_norm(t, {t.size(-1)}, w, b, 1e-6);
  };
  torch::NoGradGuard no_grad;
  const auto h = torch::silu(torch::matmul(norm(x[0], p["input_norm.weight"], p["input_norm.bias"]),
                                           p["uvqk.weight"].t()));
  const auto u = h.narrow(1, 0, 8);
  std::vector<torch::Tensor> heads;
  for (int64_t head = 0; head < 2; ++head) {
    const auto v = h.narrow(1, 8 + 4 * head, 4);
    const auto q = h.narrow(1, 16 + 6 * head, 6);
    const auto k = h.narrow(1, 28 + 6 * head, 6);
    auto out = torch::zeros({4, 4});
    for (int64_t i = 0; i < 4; ++i) {
      const double n = allowed[0][i].sum().item<double>();
      for (int64_t j = 0; j <= i; ++j) {
        if (!allowed[0][i][j].item<bool>()) continue;
        const auto logit = (q[i] * k[j]).sum() + p["relative_bias.weight"][i - j][head];
        out[i] += torch::silu(logit) * v[j] / n;
      }
    }
    heads.push_back(out);
  }
  const auto attended = norm(torch::cat(heads, 1), p["attention_norm.weight"], p["attention_norm.bias"]);
  const auto expected = x[0] + torch::matmul(u * attended, p["out.weight"].t()) + p["out.bias"];
  EXPECT_TRUE(torch::allclose(block->forward(x, context)[0], expected, 1e-4, 1e-5));
}

TEST(RelativePositionBiasTest, DependsOnlyOnTheBucketedDistance) {
  torch::manual_seed(0);
  RelativePositionBias bias(2, 50);
  const auto b = bias->forward(40);  // [H, T, T]
  ASSERT_EQ(b.sizes(), (std::vector<int64_t>{2, 40, 40}));
  // Toeplitz: the same distance, the same bias.
  EXPECT_TRUE(torch::equal(b.narrow(1, 1, 39).narrow(2, 1, 39), b.narrow(1, 0, 39).narrow(2, 0, 39)));
  // Exact buckets for short distances, shared ones for long distances.
  EXPECT_NE(b[0][10][0].item<float>(), b[0][10][1].item<float>());
  EXPECT_EQ(b[0][39][0].item<float>(), b[0][38][0].item<float>());
  // Heads have their own biases.
  EXPECT_FALSE(torch::equal(b[0], b[1]));
  // The last queries' rows alone are those rows of the whole.
  EXPECT_TRUE(torch::equal(bias->forward(40, 3), b.narrow(1, 37, 3)));
  EXPECT_TRUE(torch::equal(bias->forward(40, 1), b.narrow(1, 39, 1)));
}

// Each architecture switch changes the computation, and gradients reach every
// parameter of the switched model (the relative bias, HSTU's projections, ...).
struct Switch {
  Backbone backbone;
  std::string name;
  std::string value;
};

// Scores [3, num_items + 1] of the last positions of Batch(), as logits.
torch::Tensor Logits(SequentialRecommender& model) {
  const auto states = model.UserStates(Batch()).select(1, 5);
  return torch::matmul(states, model.OutputEmbeddings().t()) * model.LogitScale();
}

class SwitchTest : public ::testing::TestWithParam<Switch> {};

TEST_P(SwitchTest, ChangesTheOutputAndTrainsEveryParameter) {
  const TrainConfig base = TinyTrainConfig(GetParam().backbone);
  auto changed = ApplyTextSettings(base, {{GetParam().name, GetParam().value}});
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  torch::manual_seed(0);
  auto a = MakeModel(base);
  torch::manual_seed(0);
  auto b = MakeModel(*changed);
  a->eval();
  b->eval();
  EXPECT_FALSE(torch::allclose(Logits(*a), Logits(*b), 1e-4, 1e-5)) << GetParam().name;
  b->train();
  (torch::matmul(b->UserStates(Batch()), b->OutputEmbeddings().t()).pow(2)).sum().backward();
  for (const auto& named : b->named_parameters()) {
    ASSERT_TRUE(named.value().grad().defined()) << named.key();
    EXPECT_GT(named.value().grad().abs().sum().item<double>(), 0) << named.key();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Switches, SwitchTest,
    ::testing::Values(Switch{Backbone::kSASRec, "pre_norm", "true"},
                      Switch{Backbone::kSASRec, "feed_forward", "swiglu"},
                      Switch{Backbone::kSASRec, "positions", "rope"},
                      Switch{Backbone::kSASRec, "positions", "none"},
                      Switch{Backbone::kSASRec, "positions", "relative_bias"},
                      Switch{Backbone::kSASRec, "positions", "absolute_relative"},
                      Switch{Backbone::kSASRec, "embedding_norm", "true"},
                      Switch{Backbone::kSASRec, "tie_embeddings", "false"},
                      Switch{Backbone::kSASRec, "pooling", "mean"},
                      Switch{Backbone::kSASRec, "pooling", "last_k_mean"},
                      Switch{Backbone::kHSTU, "positions", "absolute"},
                      Switch{Backbone::kHSTU, "positions", "rope"},
                      Switch{Backbone::kHSTU, "positions", "none"},
                      Switch{Backbone::kHSTU, "positions", "absolute_relative"},
                      Switch{Backbone::kHSTU, "embedding_norm", "false"},
                      Switch{Backbone::kHSTU, "temperature", "0.2"},
                      Switch{Backbone::kHSTU, "tie_embeddings", "false"},
                      Switch{Backbone::kHSTU, "pooling", "mean"},
                      Switch{Backbone::kHSTU, "linear_dim", "8"},
                      Switch{Backbone::kHSTU, "attention_dim", "8"},
                      Switch{Backbone::kHSTU, "num_heads", "1"},
                      Switch{Backbone::kHSTU, "num_blocks", "1"}),
    [](const ::testing::TestParamInfo<Switch>& info) {
      std::string name = BackboneLabel(info.param.backbone) + "_" + info.param.name + "_" +
                         info.param.value;
      for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

// The temperature rescales normalised logits; it has no parameters of its own.
TEST(TemperatureTest, ScalesNormalisedSasrecLogits) {
  TrainConfig base = TinyTrainConfig(Backbone::kSASRec);
  base.model.embedding_norm = true;
  TrainConfig hotter = base;
  hotter.model.temperature = 0.5;
  torch::manual_seed(0);
  auto a = MakeModel(base);
  torch::manual_seed(0);
  auto b = MakeModel(hotter);
  a->eval();
  b->eval();
  EXPECT_TRUE(torch::allclose(Logits(*a) * (0.05 / 0.5), Logits(*b), 1e-4, 1e-5));
}

}  // namespace
}  // namespace vmle::trainer
