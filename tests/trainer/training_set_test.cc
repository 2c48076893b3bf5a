#include "services/trainer/train/training_set.h"

#include <gtest/gtest.h>

namespace vmle::trainer {
namespace {

Dataset Hand() {
  Dataset d;
  d.num_users = 3;
  d.num_items = 9;
  // Training portions (all but the last two): {1,2,3,4}, {5,6}, {7} (too short).
  d.sequences = {{1, 2, 3, 4, 8, 9}, {5, 6, 1, 2}, {7, 8, 9}};
  return d;
}

TEST(TrainingSetTest, AllPositionsPredictsEachNextTrainingItemLeftPadded) {
  const TrainingSet set(Hand(), /*max_len=*/3, TrainTargets::kAllPositions);
  EXPECT_EQ(set.num_examples(), 2);
  EXPECT_EQ(set.num_targets(), 3 + 1);
  std::mt19937_64 rng(1);
  const auto batches = set.EpochBatches(/*batch_size=*/8, rng);
  ASSERT_EQ(batches.size(), 1u);
  // Sorted by length: {5}->{6} first, then {1,2,3}->{2,3,4}.
  EXPECT_TRUE(torch::equal(batches[0].inputs,
                           torch::tensor({0, 0, 5, 1, 2, 3}, torch::kLong).view({2, 3})));
  EXPECT_TRUE(torch::equal(batches[0].targets,
                           torch::tensor({0, 0, 6, 2, 3, 4}, torch::kLong).view({2, 3})));
  EXPECT_EQ(batches[0].num_targets, 4);
}

TEST(TrainingSetTest, LastPositionKeepsOnlyTheFinalTarget) {
  const TrainingSet set(Hand(), /*max_len=*/2, TrainTargets::kLastPosition);
  EXPECT_EQ(set.num_targets(), 2);
  std::mt19937_64 rng(1);
  const auto batches = set.EpochBatches(8, rng);
  ASSERT_EQ(batches.size(), 1u);
  // max_len 2 keeps the most recent inputs {2,3} of {1,2,3}.
  EXPECT_TRUE(torch::equal(batches[0].inputs,
                           torch::tensor({0, 5, 2, 3}, torch::kLong).view({2, 2})));
  EXPECT_TRUE(torch::equal(batches[0].targets,
                           torch::tensor({0, 6, 0, 4}, torch::kLong).view({2, 2})));
}

TEST(TrainingSetTest, EveryExampleIsInExactlyOneBatchPerEpoch) {
  Dataset d;
  d.num_items = 50;
  for (int u = 0; u < 37; ++u) {
    std::vector<int32_t> s;
    for (int j = 0; j < 4 + u % 9; ++j) s.push_back(1 + (u * 7 + j) % 50);
    d.sequences.push_back(s);
  }
  d.num_users = static_cast<int64_t>(d.sequences.size());
  const TrainingSet set(d, 50, TrainTargets::kAllPositions);
  std::mt19937_64 rng(3);
  int64_t rows = 0, targets = 0;
  for (const auto& b : set.EpochBatches(5, rng)) {
    rows += b.inputs.size(0);
    targets += b.num_targets;
    EXPECT_LE(b.inputs.size(0), 5);
  }
  EXPECT_EQ(rows, 37);
  EXPECT_EQ(targets, set.num_targets());
}

}  // namespace
}  // namespace vmle::trainer
