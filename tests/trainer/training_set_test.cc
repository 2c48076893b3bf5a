#include "services/trainer/train/training_set.h"

#include <gtest/gtest.h>

#include <set>

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

// 37 users of lengths 4..12 over 50 items.
Dataset Varied() {
  Dataset d;
  d.num_items = 50;
  for (int u = 0; u < 37; ++u) {
    std::vector<int32_t> s;
    for (int j = 0; j < 4 + u % 9; ++j) s.push_back(1 + (u * 7 + j) % 50);
    d.sequences.push_back(s);
  }
  d.num_users = static_cast<int64_t>(d.sequences.size());
  return d;
}

TEST(TrainingSetTest, LengthBucketsLeftPadAndPredictEachNextTrainingItem) {
  const TrainingSet set(Hand(), /*max_len=*/3, TrainTargets::kAllPositions);
  EXPECT_EQ(set.num_examples(), 2);
  EXPECT_EQ(set.num_targets(), 3 + 1);
  std::mt19937_64 rng(1);
  const auto batches = set.EpochBatches(/*batch_size=*/8, rng, Batching::kLengthBuckets);
  ASSERT_EQ(batches.size(), 1u);
  const auto& b = batches[0];
  // Sorted by length: {5}->{6} first, then {1,2,3}->{2,3,4}.
  EXPECT_TRUE(torch::equal(b.sequences.items, torch::tensor({0, 0, 5, 1, 2, 3}, torch::kLong).view({2, 3})));
  EXPECT_TRUE(torch::equal(b.sequences.segments, torch::tensor({0, 0, 1, 1, 1, 1}, torch::kLong).view({2, 3})));
  EXPECT_TRUE(torch::equal(b.sequences.positions, torch::tensor({0, 0, 2, 0, 1, 2}, torch::kLong).view({2, 3})));
  EXPECT_TRUE(torch::equal(b.target_positions, torch::tensor({2, 3, 4, 5}, torch::kLong)));
  EXPECT_TRUE(torch::equal(b.targets, torch::tensor({6, 2, 3, 4}, torch::kLong)));
  EXPECT_EQ(b.num_targets, 4);
}

TEST(TrainingSetTest, LastPositionKeepsOnlyTheFinalTarget) {
  const TrainingSet set(Hand(), /*max_len=*/2, TrainTargets::kLastPosition);
  EXPECT_EQ(set.num_targets(), 2);
  std::mt19937_64 rng(1);
  const auto batches = set.EpochBatches(8, rng, Batching::kLengthBuckets);
  ASSERT_EQ(batches.size(), 1u);
  // max_len 2 keeps the most recent inputs {2,3} of {1,2,3}.
  EXPECT_TRUE(torch::equal(batches[0].sequences.items, torch::tensor({0, 5, 2, 3}, torch::kLong).view({2, 2})));
  EXPECT_TRUE(torch::equal(batches[0].targets, torch::tensor({6, 4}, torch::kLong)));
  EXPECT_TRUE(torch::equal(batches[0].target_positions, torch::tensor({1, 3}, torch::kLong)));
}

TEST(TrainingSetTest, PackedRowsHoldWholeSequencesWithTheirOwnPositions) {
  const TrainingSet set(Hand(), /*max_len=*/5, TrainTargets::kAllPositions);
  std::mt19937_64 rng(1);
  const auto batches = set.EpochBatches(8, rng, Batching::kPacked);
  ASSERT_EQ(batches.size(), 1u);
  const auto& b = batches[0];
  // Rows are as long as the longest sequence, {1,2,3}; {5} does not fit beside it.
  ASSERT_EQ(b.sequences.length(), 3);
  ASSERT_EQ(b.sequences.rows(), 2);
  // Positions count from each sequence's end: max_len - n + j.
  const auto items = b.sequences.items.view(-1);
  const auto positions = b.sequences.positions.view(-1);
  for (int64_t i = 0; i < items.numel(); ++i) {
    const int64_t item = items[i].item<int64_t>();
    const int64_t expected = item == 1 ? 2 : item == 3 ? 4 : item == 5 ? 4 : -1;
    if (expected >= 0) {
      EXPECT_EQ(positions[i].item<int64_t>(), expected) << "item " << item;
    }
  }
}

TEST(TrainingSetTest, PackedBatchesHaveTheExamplesAndTargetOrderOfRandomBatches) {
  const TrainingSet set(Varied(), /*max_len=*/50, TrainTargets::kAllPositions);
  std::mt19937_64 packed_rng(3), random_rng(3);
  const auto packed = set.EpochBatches(9, packed_rng, Batching::kPacked);
  const auto random = set.EpochBatches(9, random_rng, Batching::kRandom);
  ASSERT_EQ(packed.size(), random.size());
  int64_t targets = 0, examples = 0, real = 0, slots = 0;
  for (size_t i = 0; i < packed.size(); ++i) {
    EXPECT_TRUE(torch::equal(packed[i].targets, random[i].targets)) << "batch " << i;
    EXPECT_EQ(packed[i].num_examples, random[i].num_examples);
    EXPECT_EQ(random[i].sequences.rows(), random[i].num_examples);
    EXPECT_LE(packed[i].sequences.rows(), random[i].sequences.rows());
    if (random[i].num_examples > 2) {
      EXPECT_LT(packed[i].sequences.rows(), random[i].sequences.rows());
    }
    // The input at each target's position is the same in both layouts: the item the
    // target follows.
    const auto packed_inputs = packed[i].sequences.items.view(-1).index_select(0, packed[i].target_positions);
    const auto random_inputs = random[i].sequences.items.view(-1).index_select(0, random[i].target_positions);
    EXPECT_TRUE(torch::equal(packed_inputs, random_inputs));
    targets += packed[i].num_targets;
    examples += packed[i].num_examples;
    real += packed[i].sequences.items.ne(0).sum().item<int64_t>();
    slots += packed[i].sequences.items.numel();
    // Each segment of a row is one contiguous run with its own id.
    const auto seg = packed[i].sequences.segments;
    for (int64_t r = 0; r < seg.size(0); ++r) {
      std::set<int64_t> finished;
      int64_t current = 0;
      for (int64_t t = 0; t < seg.size(1); ++t) {
        const int64_t s = seg[r][t].item<int64_t>();
        if (s == current) continue;
        EXPECT_EQ(finished.count(s), 0u) << "segment " << s << " split in row " << r;
        if (current != 0) finished.insert(current);
        current = s;
      }
    }
  }
  EXPECT_EQ(targets, set.num_targets());
  EXPECT_EQ(examples, set.num_examples());
  // First fit packs these batches to at least 80% real positions.
  EXPECT_GT(static_cast<double>(real) / static_cast<double>(slots), 0.8);
}

TEST(TrainingSetTest, EveryExampleIsInExactlyOneBatchPerEpochInEveryLayout) {
  const TrainingSet set(Varied(), 50, TrainTargets::kAllPositions);
  for (Batching batching : {Batching::kPacked, Batching::kRandom, Batching::kLengthBuckets}) {
    std::mt19937_64 rng(3);
    int64_t examples = 0, targets = 0;
    for (const auto& b : set.EpochBatches(5, rng, batching)) {
      examples += b.num_examples;
      targets += b.num_targets;
      EXPECT_LE(b.num_examples, 5);
      EXPECT_EQ(b.targets.numel(), b.num_targets);
      EXPECT_EQ(b.sequences.items.view(-1).index_select(0, b.target_positions).eq(0).sum().item<int64_t>(), 0);
    }
    EXPECT_EQ(examples, 37);
    EXPECT_EQ(targets, set.num_targets());
  }
}

}  // namespace
}  // namespace vmle::trainer
