#include "services/trainer/eval/priors.h"

#include <gtest/gtest.h>

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
  const ScorePriors priors(Hand(), PriorWeights{1.0, 0.0, 1});
  const auto model = torch::randn({1, 6}) * 100;  // ignored at full weight
  const auto blended = priors.Blend(model, torch::tensor({3}, torch::kLong).view({1, 1}));
  EXPECT_EQ(Order(blended[0]), (std::vector<int64_t>{2, 3, 1, 4, 5}));
}

TEST(PriorsTest, TransitionAtFullWeightRanksByCountsFromTheLastItem) {
  // Transitions from 3 in the training portions: 3->2 (x1, user 1), 3->4 (x1, user 2);
  // from 2: 2->3 (x2).
  const ScorePriors priors(Hand(), PriorWeights{0.0, 1.0, 1});
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
  const ScorePriors priors(Hand(), PriorWeights{0.5, 0.0, 1});
  auto model = torch::zeros({1, 6});
  model[0][5] = 50;  // the model is sure of item 5, popularity says it is never seen
  const auto blended = priors.Blend(model, torch::ones({1, 1}, torch::kLong));
  const auto expected = 0.5 * torch::log_softmax(model.narrow(1, 1, 5), 1) +
                        0.5 * priors.LogPopularity().narrow(0, 1, 5).unsqueeze(0);
  EXPECT_TRUE(torch::allclose(blended.narrow(1, 1, 5), expected, 1e-5, 1e-5));
}

}  // namespace
}  // namespace vmle::trainer
