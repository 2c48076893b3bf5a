#include "services/trainer/eval/fused_rank.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <tuple>
#include <vector>

#include "services/trainer/eval/evaluator.h"

namespace vmle::trainer {
namespace {

// Values on a grid of quarters: every product and sum is exact in float, so any
// summation order gives the same scores, and ties with the target are frequent.
torch::Tensor Quarters(std::vector<int64_t> shape) {
  return torch::randint(-8, 9, shape, torch::kLong).to(torch::kFloat) / 4;
}

struct Case {
  torch::Tensor states, items, targets, mask_rows, mask_cols;
};

// `users` users over `num_items` items with `dim` hidden units; every user masks
// a few history items (never its target).
Case MakeCase(int64_t users, int64_t num_items, int64_t dim) {
  Case c;
  c.states = Quarters({users, dim});
  c.items = Quarters({num_items + 1, dim});
  c.targets = torch::randint(1, num_items + 1, {users, 1}, torch::kLong);
  std::vector<int64_t> rows, cols;
  for (int64_t r = 0; r < users; ++r) {
    for (int64_t item = 1 + r % 5; item <= num_items; item += 9) {
      if (item == c.targets[r][0].item<int64_t>()) continue;
      rows.push_back(r);
      cols.push_back(item);
    }
  }
  c.mask_rows = torch::tensor(rows, torch::kLong);
  c.mask_cols = torch::tensor(cols, torch::kLong);
  return c;
}

torch::Tensor PlainRanks(const Case& c) {
  auto scores = torch::matmul(c.states, c.items.t());
  return RankTargets(scores, c.targets, c.mask_rows, c.mask_cols);
}

TEST(FusedRankTest, MatchesTheScoreMatrixRanksOnExactProducts) {
  if (!FusedRanker::Available()) GTEST_SKIP() << "no AVX-512F on this CPU";
  torch::manual_seed(11);
  // Users not a whole number of tiles, items not a whole number of panels, an odd
  // hidden size, and more items than one cache block holds.
  for (const auto& [users, num_items, dim] :
       std::vector<std::tuple<int64_t, int64_t, int64_t>>{{29, 101, 37}, {12, 32, 8}, {1, 1, 3},
                                                          {40, 3000, 64}}) {
    const Case c = MakeCase(users, num_items, dim);
    const FusedRanker ranker(c.items);
    const auto fused = ranker.Rank(c.states, c.targets, c.mask_rows, c.mask_cols);
    EXPECT_TRUE(torch::equal(fused, PlainRanks(c)))
        << users << " users, " << num_items << " items, dim " << dim;
  }
}

// With values whose products round, the target's score must be formed exactly as
// every other item's: items that copy the target's embedding tie with it and never
// count above it, and masked copies of an item are judged on the same score. The
// reference forms every score with one fused multiply-add chain over the hidden
// dimension, the order the header promises.
TEST(FusedRankTest, TiesWithTheTargetNeverCountOnRoundedProducts) {
  if (!FusedRanker::Available()) GTEST_SKIP() << "no AVX-512F on this CPU";
  torch::manual_seed(13);
  const int64_t users = 30, num_items = 200, dim = 48;
  Case c = MakeCase(users, num_items, dim);
  c.states = torch::randn({users, dim});
  c.items = torch::randn({num_items + 1, dim});
  // Items 1-40 copy the targets of users 0-39 (users 30-39 do not exist: plain items).
  for (int64_t r = 0; r < users; ++r) {
    const int64_t target = c.targets[r][0].item<int64_t>();
    if (target > 40) c.items[1 + r] = c.items[target];
  }
  const FusedRanker ranker(c.items);
  const auto fused = ranker.Rank(c.states, c.targets, c.mask_rows, c.mask_cols);
  auto chain = [&](int64_t r, int64_t item) {
    float acc = 0.f;
    for (int64_t k = 0; k < dim; ++k) {
      acc = std::fma(c.states[r][k].item<float>(), c.items[item][k].item<float>(), acc);
    }
    return acc;
  };
  std::vector<std::vector<bool>> masked(users, std::vector<bool>(num_items + 1, false));
  for (int64_t i = 0; i < c.mask_rows.numel(); ++i) {
    masked[c.mask_rows[i].item<int64_t>()][c.mask_cols[i].item<int64_t>()] = true;
  }
  int ties = 0;
  for (int64_t r = 0; r < users; ++r) {
    const int64_t target = c.targets[r][0].item<int64_t>();
    const float t = chain(r, target);
    int64_t above = 0;
    for (int64_t item = 1; item <= num_items; ++item) {
      const float s = chain(r, item);
      ties += item != target && s == t;
      above += !masked[r][item] && s > t;
    }
    EXPECT_EQ(fused[r].item<int64_t>(), above) << "user " << r;
  }
  EXPECT_GT(ties, 0) << "the case has no ties to check";
}

TEST(FusedRankTest, SameRanksOnTwoThreads) {
  if (!FusedRanker::Available()) GTEST_SKIP() << "no AVX-512F on this CPU";
  torch::manual_seed(12);
  const Case c = MakeCase(100, 500, 16);
  const FusedRanker ranker(c.items);
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  const auto two = ranker.Rank(c.states, c.targets, c.mask_rows, c.mask_cols);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(two, PlainRanks(c)));
}

TEST(FusedRankTest, NeitherThePaddingItemNorThePanelFillerIsRanked) {
  if (!FusedRanker::Available()) GTEST_SKIP() << "no AVX-512F on this CPU";
  // Item 0 (padding) scores highest; the target scores -1, below the zero score
  // the unused lanes of the last panel would have. Items 2 and 3 score -2, item 4
  // scores 1 but is masked history, item 5 scores 3.
  const auto items = torch::tensor({100.f, 0.f, -1.f, 0.f, -2.f, 0.f, -2.f, 0.f, 1.f, 0.f, 3.f, 0.f})
                         .view({6, 2});
  const auto states = torch::tensor({1.f, 0.f}).view({1, 2});
  const auto targets = torch::tensor({1}, torch::kLong).view({1, 1});
  const FusedRanker ranker(items);
  const auto ranks = ranker.Rank(states, targets, torch::tensor({0}, torch::kLong),
                                 torch::tensor({4}, torch::kLong));
  EXPECT_EQ(ranks[0].item<int64_t>(), 1);  // only item 5
}

TEST(FusedRankTest, RefusesStatesOfAnotherWidth) {
  if (!FusedRanker::Available()) GTEST_SKIP() << "no AVX-512F on this CPU";
  const FusedRanker ranker(torch::zeros({4, 8}));
  const auto targets = torch::tensor({1}, torch::kLong).view({1, 1});
  const auto none = torch::zeros({0}, torch::kLong);
  EXPECT_THROW(ranker.Rank(torch::zeros({1, 7}), targets, none, none), c10::Error);
}

}  // namespace
}  // namespace vmle::trainer
