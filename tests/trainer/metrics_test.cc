#include "services/trainer/eval/metrics.h"

#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "services/trainer/eval/evaluator.h"

namespace vmle::trainer {
namespace {

TEST(MetricsTest, AccumulatorMatchesHandComputedValues) {
  MetricAccumulator acc;
  for (int64_t rank : {0, 4, 9, 19, 100}) acc.Add(rank);
  const RankingMetrics m = acc.Finish();
  EXPECT_EQ(m.num_users, 5);
  EXPECT_DOUBLE_EQ(m.recall_at_5, 2.0 / 5);
  EXPECT_DOUBLE_EQ(m.recall_at_10, 3.0 / 5);
  EXPECT_DOUBLE_EQ(m.recall_at_20, 4.0 / 5);
  EXPECT_NEAR(m.ndcg_at_5, (1.0 + 1.0 / std::log2(6.0)) / 5, 1e-12);
  EXPECT_NEAR(m.ndcg_at_10, (1.0 + 1.0 / std::log2(6.0) + 1.0 / std::log2(11.0)) / 5, 1e-12);
  EXPECT_NEAR(m.ndcg_at_20,
              (1.0 + 1.0 / std::log2(6.0) + 1.0 / std::log2(11.0) + 1.0 / std::log2(21.0)) / 5,
              1e-12);
  EXPECT_NEAR(m.mrr, (1.0 + 1.0 / 5 + 1.0 / 10 + 1.0 / 20 + 1.0 / 101) / 5, 1e-12);
  EXPECT_DOUBLE_EQ(m.Get("ndcg@10"), m.ndcg_at_10);
  EXPECT_DOUBLE_EQ(m.Get("mrr"), m.mrr);
}

TEST(MetricsTest, RankCountsHigherScoringItemsAfterMaskingHistoryExceptTarget) {
  // Items 0..5 (0 = padding). Row 0: target 3, history {1, 3} (the target itself is
  // never in the mask). Scores: item 0 (padding)
  // 9, item 1 (history) 8, item 2 7, item 3 (target) 5, item 4 6, item 5 1.
  // Higher than the target after masking: items 2 and 4 -> rank 2.
  // Row 1: target 5, history {4}; scores make 5 the best unmasked -> rank 0 although
  // history item 4 scores higher.
  auto scores = torch::tensor({9.f, 8.f, 7.f, 5.f, 6.f, 1.f,  //
                               0.f, 0.f, 1.f, 2.f, 9.f, 3.f})
                    .view({2, 6});
  const auto targets = torch::tensor({3, 5}, torch::kLong).view({2, 1});
  const auto rows = torch::tensor({0, 1}, torch::kLong);
  const auto cols = torch::tensor({1, 4}, torch::kLong);
  auto float_scores = scores.clone();
  const auto ranks = RankTargets(float_scores, targets, rows, cols);
  EXPECT_EQ(ranks[0].item<int64_t>(), 2);
  EXPECT_EQ(ranks[1].item<int64_t>(), 0);
  // The generic (non-CPU-float) path agrees.
  auto double_scores = scores.to(torch::kDouble);
  const auto generic = RankTargets(double_scores, targets, rows, cols);
  EXPECT_TRUE(torch::equal(ranks, generic));
}

TEST(MetricsTest, CpuAndGenericRankingAgreeOnRandomScores) {
  torch::manual_seed(4);
  auto scores = torch::randn({64, 300});
  const auto targets = torch::randint(1, 300, {64, 1}, torch::kLong);
  std::vector<int64_t> rows, cols;
  for (int64_t r = 0; r < 64; ++r) {
    for (int64_t item = 1 + r % 7; item < 300; item += 13) {
      if (item != targets[r][0].item<int64_t>()) {
        rows.push_back(r);
        cols.push_back(item);
      }
    }
  }
  const auto mr = torch::tensor(rows, torch::kLong);
  const auto mc = torch::tensor(cols, torch::kLong);
  auto as_double = scores.to(torch::kDouble);
  auto as_float = scores.clone();
  EXPECT_TRUE(torch::equal(RankTargets(as_float, targets, mr, mc),
                           RankTargets(as_double, targets, mr, mc)));
}

}  // namespace
}  // namespace vmle::trainer
