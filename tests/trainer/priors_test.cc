#include "services/trainer/eval/priors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "services/trainer/eval/evaluator.h"

namespace vmle::trainer {
namespace {

// Training portions (all but the last two items): {1,2,3,2}, {2,3,4}, {3,2}.
Dataset Hand() {
  Dataset d;
  d.num_users = 3;
  d.num_items = 5;
  d.sequences = {{1, 2, 3, 2, 5, 5}, {2, 3, 4, 1, 5}, {3, 2, 4, 1}};
  return d;
}

PriorWeights Weights(double popularity, double transition, int64_t recent_k) {
  PriorWeights w;
  w.popularity = popularity;
  w.transition = transition;
  w.recent_k = recent_k;
  return w;
}

std::vector<int64_t> Order(const torch::Tensor& row) {
  // Items 1..N by descending score, ties by id.
  std::vector<int64_t> items;
  for (int64_t i = 1; i < row.size(0); ++i) items.push_back(i);
  std::stable_sort(items.begin(), items.end(), [&](int64_t a, int64_t b) {
    return row[a].item<float>() > row[b].item<float>();
  });
  return items;
}

TEST(PriorsTest, PopularityAtFullWeightRanksByTrainingPopularity) {
  // Training counts: item 2 x4, item 3 x3, item 1 x1, item 4 x1, item 5 x0.
  const ScorePriors priors(Hand(), Weights(1.0, 0.0, 1));
  const auto model = torch::randn({1, 6}) * 100;  // ignored at full weight
  const auto blended = priors.Blend(model, torch::tensor({3}, torch::kLong).view({1, 1}));
  EXPECT_EQ(Order(blended[0]), (std::vector<int64_t>{2, 3, 1, 4, 5}));
}

TEST(PriorsTest, TransitionAtFullWeightRanksByCountsFromTheLastItem) {
  // Transitions from 3 in the training portions: 3->2 (x1, user 1), 3->4 (x1, user 2);
  // from 2: 2->3 (x2).
  const ScorePriors priors(Hand(), Weights(0.0, 1.0, 1));
  const auto model = torch::randn({2, 6}) * 100;
  const auto recent = torch::tensor({3, 2}, torch::kLong).view({2, 1});
  const auto blended = priors.Blend(model, recent);
  const auto from3 = Order(blended[0]);
  EXPECT_EQ(std::vector<int64_t>(from3.begin(), from3.begin() + 2), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(Order(blended[1]).front(), 3);
  // Unseen successors tie below the seen ones.
  EXPECT_FLOAT_EQ(blended[0][1].item<float>(), blended[0][5].item<float>());
  EXPECT_GT(blended[0][4].item<float>(), blended[0][5].item<float>());
}

TEST(PriorsTest, ZeroWeightsLeaveTheModelScoresAlone) {
  const ScorePriors priors(Hand(), PriorWeights{});
  const auto model = torch::randn({1, 6});
  EXPECT_TRUE(torch::equal(priors.Blend(model, torch::ones({1, 1}, torch::kLong)), model));
}

TEST(PriorsTest, PartialWeightMixesModelAndPrior) {
  const ScorePriors priors(Hand(), Weights(0.5, 0.0, 1));
  auto model = torch::zeros({1, 6});
  model[0][5] = 50;  // the model is sure of item 5, popularity says it is never seen
  const auto blended = priors.Blend(model, torch::ones({1, 1}, torch::kLong));
  const auto expected = 0.5 * torch::log_softmax(model.narrow(1, 1, 5), 1) +
                        0.5 * priors.LogPopularity().narrow(0, 1, 5).unsqueeze(0);
  EXPECT_TRUE(torch::allclose(blended.narrow(1, 1, 5), expected, 1e-5, 1e-5));
}

// Co-occurrences in the training portions {1,2,3,2}, {2,3,4}, {3,2} with window 1:
// c(1,2) = 1, c(2,3) = 4 (2-3, 3-2 in the first, 2-3 in the second, 3-2 in the
// third, each counted both ways), c(3,4) = 1. Occurrences: n1 = 1, n2 = 4, n3 = 3,
// n4 = 1.
TEST(ItemCfTest, NeighboursMatchHandCountedCoOccurrences) {
  const Dataset d = Hand();
  const TrainingPriors counts = ComputeTrainingPriors(d);
  auto weights_of = [&](const ItemCfOptions& o, int32_t source) {
    std::map<int32_t, float> out;
    const NeighbourTable table = ItemCfNeighbours(d, counts, o);
    for (const auto& n : table.rows[source]) out[n.item] = n.weight;
    return out;
  };
  ItemCfOptions none{1, 50, ItemCfNorm::kNone};
  EXPECT_EQ(weights_of(none, 3), (std::map<int32_t, float>{{2, 4.f}, {4, 1.f}}));
  EXPECT_EQ(weights_of(none, 1), (std::map<int32_t, float>{{2, 1.f}}));
  // sqrt: 4 / sqrt(3 * 4) and 1 / sqrt(3 * 1), rescaled to sum to the count 5.
  const auto sqrt = weights_of(ItemCfOptions{1, 50, ItemCfNorm::kSqrt}, 3);
  const double a = 4 / std::sqrt(12.0), b = 1 / std::sqrt(3.0);
  EXPECT_NEAR(sqrt.at(2), a * 5 / (a + b), 1e-5);
  EXPECT_NEAR(sqrt.at(4), b * 5 / (a + b), 1e-5);
  // count: 4 / n2 = 1 and 1 / n4 = 1, a tie, each half of 5.
  const auto count = weights_of(ItemCfOptions{1, 50, ItemCfNorm::kCount}, 3);
  EXPECT_NEAR(count.at(2), 2.5, 1e-6);
  EXPECT_NEAR(count.at(4), 2.5, 1e-6);
  // top_k 1 keeps the strongest neighbour only, with its own count.
  EXPECT_EQ(weights_of(ItemCfOptions{1, 1, ItemCfNorm::kSqrt}, 3), (std::map<int32_t, float>{{2, 4.f}}));
  // Window 2 adds pairs two apart: 1-3 in the first portion, 2-4 in the second.
  EXPECT_EQ(weights_of(ItemCfOptions{2, 50, ItemCfNorm::kNone}, 1), (std::map<int32_t, float>{{2, 1.f}, {3, 1.f}}));
}

TEST(ItemCfTest, PriorIsTheSmoothedShareOfTheRecentItemsNeighbours) {
  PriorWeights w;
  w.itemcf = 1.0;
  w.itemcf_options = {1, 50, ItemCfNorm::kNone};
  const ScorePriors priors(Hand(), w);
  const auto log_cf = priors.LogItemCf(torch::tensor({3}, torch::kLong).view({1, 1}));
  // From 3: (4 + 0.01) / (5 + 0.01 * 5) for item 2, (1 + 0.01) / 5.05 for item 4.
  EXPECT_NEAR(std::exp(log_cf[0][2].item<double>()), 4.01 / 5.05, 1e-6);
  EXPECT_NEAR(std::exp(log_cf[0][4].item<double>()), 1.01 / 5.05, 1e-6);
  EXPECT_NEAR(std::exp(log_cf[0][1].item<double>()), 0.01 / 5.05, 1e-7);
  // At full weight the blend ranks by it.
  const auto blended = priors.Blend(torch::randn({1, 6}) * 100, torch::tensor({3}, torch::kLong).view({1, 1}));
  EXPECT_EQ(Order(blended[0]).front(), 2);
  EXPECT_EQ(Order(blended[0])[1], 4);
}

TEST(ItemCfTest, TablesAreComputedOncePerSettingAndShared) {
  const Dataset d = Hand();
  PriorTables tables(d);
  const auto a = tables.ItemCf({1, 50, ItemCfNorm::kSqrt});
  EXPECT_EQ(a, tables.ItemCf({1, 50, ItemCfNorm::kSqrt}));
  EXPECT_NE(a, tables.ItemCf({2, 50, ItemCfNorm::kSqrt}));
  EXPECT_EQ(tables.Counts(), tables.Counts());
}

// Model scores rank items 1 > 2 > 3 > 4 > 5. Re-ranking the top 3 with half the
// weight on the itemCF prior from item 3 (none normalisation) gives, by hand:
//   item 1: 0.5 * 5 + 0.5 * log(0.01 / 5.05) = -0.612
//   item 2: 0.5 * 4 + 0.5 * log(4.01 / 5.05) =  1.885
//   item 3: 0.5 * 3 + 0.5 * log(0.01 / 5.05) = -1.612
// so the order becomes 2, 1, 3; items 4 and 5 keep ranks 3 and 4 although item 4
// has a strong prior (it is outside the top 3).
TEST(RerankTest, ReordersOnlyTheTopKAsComputedByHand) {
  PriorWeights w;
  w.itemcf_options = {1, 50, ItemCfNorm::kNone};
  w.rerank_topk = 3;
  w.rerank_itemcf = 0.5;
  const ScorePriors priors(Hand(), w);
  const auto scores = torch::tensor({0.f, 5.f, 4.f, 3.f, 2.f, 1.f}).view({1, 6});
  const auto recent = torch::tensor({3}, torch::kLong).view({1, 1});
  const auto none = torch::empty({0}, torch::kLong);
  std::vector<int64_t> ranks;
  for (int64_t target = 1; target <= 5; ++target) {
    auto s = scores.clone();
    ranks.push_back(RankTargetsReranked(s, torch::tensor({target}, torch::kLong).view({1, 1}), none, none,
                                        priors, recent)[0]
                        .item<int64_t>());
  }
  EXPECT_EQ(ranks, (std::vector<int64_t>{1, 0, 2, 3, 4}));
  const auto rerank = priors.Rerank(torch::tensor({5.f, 4.f, 3.f}).view({1, 3}),
                                    torch::tensor({1, 2, 3}, torch::kLong).view({1, 3}), recent);
  EXPECT_NEAR(rerank[0][0].item<double>(), 2.5 + 0.5 * std::log(0.01 / 5.05), 1e-5);
  EXPECT_NEAR(rerank[0][1].item<double>(), 2.0 + 0.5 * std::log(4.01 / 5.05), 1e-5);
}

TEST(RerankTest, RanksBelowTheTopKAndMaskedHistoryAreUntouched) {
  torch::manual_seed(4);
  Dataset d;
  d.num_items = 40;
  for (int u = 0; u < 30; ++u) {
    std::vector<int32_t> s;
    for (int j = 0; j < 8; ++j) s.push_back(1 + (u * 13 + j * 7) % 40);
    d.sequences.push_back(s);
  }
  d.num_users = 30;
  PriorWeights w;
  w.rerank_topk = 10;
  w.rerank_itemcf = 0.6;
  w.rerank_popularity = 0.2;
  w.recent_k = 2;
  const ScorePriors priors(d, w);
  const auto scores = torch::randn({4, 41});
  const auto recent = torch::tensor({1, 2, 3, 4, 5, 6, 7, 8}, torch::kLong).view({4, 2});
  // Row r masks its history items 1 + r and 20 + r.
  int64_t changed = 0;
  for (int64_t target = 1; target <= 40; ++target) {
    for (int64_t r = 0; r < 4; ++r) {
      if (target == 1 + r || target == 20 + r) continue;
      const auto t = torch::tensor({target}, torch::kLong).view({1, 1});
      auto plain_scores = scores[r].unsqueeze(0).clone();
      auto rerank_scores = plain_scores.clone();
      const auto rows = torch::zeros({2}, torch::kLong);
      const auto cols = torch::tensor({1 + r, 20 + r}, torch::kLong);
      const int64_t plain = RankTargets(plain_scores, t, rows, cols)[0].item<int64_t>();
      const int64_t reranked =
          RankTargetsReranked(rerank_scores, t, rows, cols, priors, recent[r].unsqueeze(0))[0].item<int64_t>();
      if (plain >= 10) {
        EXPECT_EQ(reranked, plain) << "target " << target << " row " << r;
      } else {
        EXPECT_LT(reranked, 10) << "target " << target << " row " << r;
        changed += reranked != plain;
      }
    }
  }
  EXPECT_GT(changed, 0);  // the re-rank did reorder some top-10 lists
}

}  // namespace
}  // namespace vmle::trainer
