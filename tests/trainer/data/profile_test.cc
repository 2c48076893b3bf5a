#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/trainer/data/dataset.h"
#include "tests/trainer/data/test_util.h"

namespace vmle::trainer {
namespace {

using ::vmle::trainer::testing::HasError;

Dataset Make(int64_t num_items, std::vector<std::vector<int32_t>> sequences) {
  Dataset d;
  d.num_users = static_cast<int64_t>(sequences.size());
  d.num_items = num_items;
  d.sequences = std::move(sequences);
  return d;
}

TEST(ProfileTest, HandComputedExample) {
  // Lengths 1, 2, 3, 4; item counts: 1 -> 4, 2 -> 3, 3 -> 2, 4 -> 1.
  const Dataset d = Make(4, {{1}, {1, 2}, {1, 2, 3}, {1, 2, 3, 4}});
  const DatasetProfile p = ComputeProfile(d);
  EXPECT_EQ(p.num_users, 4);
  EXPECT_EQ(p.num_items, 4);
  EXPECT_EQ(p.num_interactions, 10);
  EXPECT_DOUBLE_EQ(p.mean_length, 2.5);
  EXPECT_DOUBLE_EQ(p.median_length, 2.5);
  EXPECT_EQ(p.max_length, 4);
  EXPECT_DOUBLE_EQ(p.density, 10.0 / 16.0);
  // Sorted counts 1, 2, 3, 4: 2 * (1 + 4 + 9 + 16) / (4 * 10) - 5 / 4 = 0.25.
  EXPECT_DOUBLE_EQ(p.popularity_gini, 0.25);
  EXPECT_DOUBLE_EQ(p.top1pct_share, 0.4);  // one item (ceil of 1% of 4) with 4 of 10
}

TEST(ProfileTest, OddMedianAndExtremeGini) {
  const Dataset d = Make(4, {{4, 4}, {4}, {4, 4, 4, 4, 4}});
  const DatasetProfile p = ComputeProfile(d);
  EXPECT_DOUBLE_EQ(p.median_length, 2);
  EXPECT_DOUBLE_EQ(p.popularity_gini, 0.75);  // all on one of four items: (n - 1) / n
  EXPECT_DOUBLE_EQ(p.top1pct_share, 1.0);
}

TEST(ProfileTest, UniformPopularityHasZeroGini) {
  const Dataset d = Make(3, {{1, 2, 3}, {3, 2, 1}});
  EXPECT_DOUBLE_EQ(ComputeProfile(d).popularity_gini, 0.0);
}

TEST(ProfileTest, TopOnePercentUsesCeilingOfItemCount) {
  // 201 items: the top ceil(2.01) = 3 items. Items 1..3 appear 10 times, the
  // rest once each.
  std::vector<int32_t> seq;
  for (int32_t item = 1; item <= 201; ++item) {
    for (int k = 0; k < (item <= 3 ? 10 : 1); ++k) seq.push_back(item);
  }
  const DatasetProfile p = ComputeProfile(Make(201, {seq}));
  EXPECT_DOUBLE_EQ(p.top1pct_share, 30.0 / 228.0);
}

TEST(ProfileTest, EmptyDatasetIsAllZero) {
  const DatasetProfile p = ComputeProfile(Dataset());
  EXPECT_EQ(p.num_users, 0);
  EXPECT_EQ(p.num_interactions, 0);
  EXPECT_EQ(p.mean_length, 0);
  EXPECT_EQ(p.median_length, 0);
  EXPECT_EQ(p.density, 0);
  EXPECT_EQ(p.popularity_gini, 0);
  EXPECT_EQ(p.top1pct_share, 0);
}

TEST(DatasetTest, NumInteractionsAndValidation) {
  const Dataset good = Make(3, {{1, 2}, {3}});
  EXPECT_EQ(NumInteractions(good), 3);
  EXPECT_TRUE(ValidateDataset(good).ok());
  EXPECT_TRUE(HasError(ValidateDataset(Make(2, {{1, 3}})), StatusCode::kInvalidArgument,
                       "user 1 position 1: item id 3 outside [1, 2]"));
  EXPECT_TRUE(
      HasError(ValidateDataset(Make(2, {{1}, {0}})), StatusCode::kInvalidArgument, "item id 0"));
  EXPECT_TRUE(HasError(ValidateDataset(Make(2, {{1}, {}})), StatusCode::kInvalidArgument,
                       "user 2 has an empty sequence"));
  Dataset mismatched = good;
  mismatched.num_users = 5;
  EXPECT_TRUE(HasError(ValidateDataset(mismatched), StatusCode::kInvalidArgument,
                       "num_users is 5 but there are 2 sequences"));
}

}  // namespace
}  // namespace vmle::trainer
