// Packed batches (several sequences per row) against one sequence per row: the same
// states, loss and gradients, and nothing crosses from one sequence to its neighbour.
#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

#include "services/trainer/model/factory.h"
#include "services/trainer/train/loss.h"
#include "services/trainer/train/training_set.h"
#include "services/trainer/util/configuration.h"

namespace vmle::trainer {
namespace {

struct Variant {
  Backbone backbone;
  std::vector<std::pair<std::string, std::string>> settings;
  std::string label;
};

TrainConfig Config(const Variant& v) {
  TrainConfig base;
  base.backbone = v.backbone;
  base.model.num_items = 40;
  std::vector<std::pair<std::string, std::string>> settings = {
      {"hidden_dim", "8"}, {"num_heads", "2"}, {"num_blocks", "2"}, {"max_len", "12"},
      {"dropout", "0"},    {"attn_dropout", "0"}, {"linear_dim", "4"}, {"attention_dim", "6"}};
  if (v.backbone == Backbone::kHSTU) settings.push_back({"embedding_norm", "true"});
  settings.insert(settings.end(), v.settings.begin(), v.settings.end());
  auto config = ApplyTextSettings(base, settings);
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  return *config;
}

std::shared_ptr<SequentialRecommender> Model(const Variant& v) {
  torch::manual_seed(0);
  auto model = MakeModel(Config(v));
  model->to(torch::kDouble);
  return model;
}

// 30 users of lengths 4..14 over 40 items.
Dataset Users() {
  Dataset d;
  d.num_items = 40;
  for (int u = 0; u < 30; ++u) {
    std::vector<int32_t> s;
    for (int j = 0; j < 4 + (u * 5) % 11; ++j) s.push_back(1 + (u * 11 + j * 3) % 40);
    d.sequences.push_back(s);
  }
  d.num_users = static_cast<int64_t>(d.sequences.size());
  return d;
}

class PackingTest : public ::testing::TestWithParam<Variant> {};

TEST_P(PackingTest, PackedAndRandomBatchesGiveTheSameLossAndGradients) {
  auto model = Model(GetParam());
  const TrainingSet set(Users(), /*max_len=*/12, TrainTargets::kAllPositions);
  std::mt19937_64 packed_rng(9), random_rng(9);
  const auto packed = set.EpochBatches(12, packed_rng, Batching::kPacked);
  const auto random = set.EpochBatches(12, random_rng, Batching::kRandom);
  ASSERT_EQ(packed.size(), random.size());
  auto run = [&](const TrainBatch& batch) {
    model->zero_grad();
    torch::manual_seed(5);  // the same negatives for both layouts
    const auto states = model->UserStates(batch.sequences);
    const auto at_targets = states.view({-1, states.size(2)}).index_select(0, batch.target_positions);
    auto loss = ComputeLoss(LossKind::kSampledSoftmax, 8, at_targets, batch.targets,
                            model->OutputEmbeddings(), model->LogitScale());
    loss.backward();
    std::vector<torch::Tensor> grads;
    for (const auto& p : model->parameters()) grads.push_back(p.grad().clone());
    return std::make_pair(loss.item<double>(), grads);
  };
  for (size_t b = 0; b < packed.size(); ++b) {
    ASSERT_LT(packed[b].sequences.rows(), random[b].sequences.rows()) << "batch " << b << " not packed";
    const auto [packed_loss, packed_grads] = run(packed[b]);
    const auto [random_loss, random_grads] = run(random[b]);
    EXPECT_NEAR(packed_loss, random_loss, 1e-12) << "batch " << b;
    const auto names = model->named_parameters().keys();
    for (size_t i = 0; i < packed_grads.size(); ++i) {
      EXPECT_GT(random_grads[i].abs().sum().item<double>(), 0) << names[i];
      EXPECT_TRUE(torch::allclose(packed_grads[i], random_grads[i], 1e-9, 1e-12))
          << names[i] << " differs in batch " << b << " by "
          << (packed_grads[i] - random_grads[i]).abs().max().item<double>();
    }
  }
}

TEST_P(PackingTest, NeighboursInARowAndPaddingNeverLeak) {
  auto model = Model(GetParam());
  model->eval();
  torch::NoGradGuard no_grad;
  const int64_t max_len = 12;
  // One row: {1,2,3} {4,5} {6,7,8,9}, then two padding positions.
  const std::vector<std::vector<int64_t>> sequences = {{1, 2, 3}, {4, 5}, {6, 7, 8, 9}};
  auto row = [&](const std::vector<std::vector<int64_t>>& seqs) {
    std::vector<int64_t> items, segments, positions;
    for (size_t s = 0; s < seqs.size(); ++s) {
      const auto n = static_cast<int64_t>(seqs[s].size());
      for (int64_t j = 0; j < n; ++j) {
        items.push_back(seqs[s][j]);
        segments.push_back(static_cast<int64_t>(s) + 1);
        positions.push_back(max_len - n + j);
      }
    }
    for (int k = 0; k < 2; ++k) {
      items.push_back(0);
      segments.push_back(0);
      positions.push_back(0);
    }
    const auto n = static_cast<int64_t>(items.size());
    return SequenceBatch{torch::tensor(items, torch::kLong).view({1, n}),
                         torch::tensor(segments, torch::kLong).view({1, n}),
                         torch::tensor(positions, torch::kLong).view({1, n})};
  };
  const auto packed = model->UserStates(row(sequences))[0];
  int64_t offset = 0;
  for (const auto& seq : sequences) {
    const auto n = static_cast<int64_t>(seq.size());
    // Alone, left-padded to 7 positions.
    std::vector<int64_t> padded(7 - n, 0);
    padded.insert(padded.end(), seq.begin(), seq.end());
    const auto alone = model->UserStates(torch::tensor(padded, torch::kLong).view({1, 7}))[0].narrow(0, 7 - n, n);
    EXPECT_TRUE(torch::allclose(packed.narrow(0, offset, n), alone, 1e-10, 1e-12))
        << "sequence at column " << offset;
    offset += n;
  }
  // Changing the middle sequence leaves its neighbours' states untouched (up to the
  // rounding of a running sum, for mean pooling).
  auto changed = sequences;
  changed[1] = {30, 31};
  const auto other = model->UserStates(row(changed))[0];
  EXPECT_TRUE(torch::allclose(other.narrow(0, 0, 3), packed.narrow(0, 0, 3), 1e-12, 1e-14));
  EXPECT_TRUE(torch::allclose(other.narrow(0, 5, 4), packed.narrow(0, 5, 4), 1e-12, 1e-14));
  EXPECT_FALSE(torch::allclose(other.narrow(0, 3, 2), packed.narrow(0, 3, 2)));
  EXPECT_TRUE(torch::isfinite(packed).all().item<bool>());
}

INSTANTIATE_TEST_SUITE_P(
    Variants, PackingTest,
    ::testing::Values(Variant{Backbone::kSASRec, {}, "sasrec_absolute"},
                      Variant{Backbone::kSASRec, {{"positions", "rope"}}, "sasrec_rope"},
                      Variant{Backbone::kSASRec, {{"positions", "relative_bias"}, {"pooling", "mean"}},
                              "sasrec_relative_bias_mean"},
                      Variant{Backbone::kSASRec, {{"pooling", "last_k_mean"}, {"pre_norm", "true"}},
                              "sasrec_last_k_mean_pre_norm"},
                      Variant{Backbone::kHSTU, {{"positions", "absolute_relative"}}, "hstu_absolute_relative"},
                      Variant{Backbone::kHSTU, {{"positions", "rope"}}, "hstu_rope"},
                      Variant{Backbone::kHSTU, {{"pooling", "mean"}}, "hstu_mean"}),
    [](const ::testing::TestParamInfo<Variant>& info) { return info.param.label; });

}  // namespace
}  // namespace vmle::trainer
