#include "services/trainer/data/split.h"

#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "services/trainer/data/readers.h"

namespace vmle::trainer {
namespace {

Dataset Example() {
  Dataset d;
  d.num_items = 9;
  d.sequences = {
      {1, 2, 3, 4, 5},     // user 1: train 1 2 3, valid 4, test 5
      {6, 7},              // user 2: short, all training
      {8},                 // user 3: short, all training
      {1, 2, 3},           // user 4: train 1, valid 2, test 3
      {1, 3, 1, 3, 9, 9},  // user 5: train 1 3 1 3, valid 9, test 9
  };
  d.num_users = static_cast<int64_t>(d.sequences.size());
  return d;
}

// (user_id, target, history_length) of each case.
std::vector<std::tuple<int32_t, int32_t, int64_t>> Flatten(const std::vector<EvalCase>& cases) {
  std::vector<std::tuple<int32_t, int32_t, int64_t>> out;
  for (const EvalCase& c : cases) out.emplace_back(c.user_id, c.target, c.history_length);
  return out;
}

TEST(SplitTest, TrainLengthAndEligibility) {
  EXPECT_EQ(TrainLength(0), 0);
  EXPECT_EQ(TrainLength(1), 1);
  EXPECT_EQ(TrainLength(2), 2);
  EXPECT_EQ(TrainLength(3), 1);
  EXPECT_EQ(TrainLength(10), 8);
  EXPECT_FALSE(IsEvaluated(2));
  EXPECT_TRUE(IsEvaluated(3));
}

TEST(SplitTest, ValidationCasesHoldOutTheSecondToLastItem) {
  const auto cases = Flatten(MakeEvalCases(Example(), EvalSplit::kValidation));
  EXPECT_EQ(cases, (decltype(cases){{1, 4, 3}, {4, 2, 1}, {5, 9, 4}}));
}

TEST(SplitTest, TestCasesHoldOutTheLastItemWithValidationInHistory) {
  const auto cases = Flatten(MakeEvalCases(Example(), EvalSplit::kTest));
  EXPECT_EQ(cases, (decltype(cases){{1, 5, 4}, {4, 3, 2}, {5, 9, 5}}));
}

TEST(SplitTest, SummaryCountsShortUsers) {
  const SplitSummary s = SummarizeSplit(Example());
  EXPECT_EQ(s.num_users, 5);
  EXPECT_EQ(s.num_eval_users, 3);
  EXPECT_EQ(s.num_short_users, 2);
  EXPECT_EQ(s.num_train_interactions, 3 + 2 + 1 + 1 + 4);
}

TEST(SplitTest, PriorsComeFromTrainingPortionsOnly) {
  const TrainingPriors p = ComputeTrainingPriors(Example());
  ASSERT_EQ(p.popularity.size(), 10u);
  // Held-out items (4, 5 and the final 9s) never count.
  EXPECT_EQ(p.popularity, (std::vector<int64_t>{0, 4, 1, 3, 0, 0, 1, 1, 1, 0}));
  ASSERT_EQ(p.transitions.size(), 10u);
  auto row = [&](int item) {
    std::vector<std::pair<int32_t, int32_t>> out;
    for (const ItemCount& c : p.transitions[static_cast<size_t>(item)]) {
      out.emplace_back(c.item, c.count);
    }
    return out;
  };
  using Row = std::vector<std::pair<int32_t, int32_t>>;
  EXPECT_EQ(row(1), (Row{{3, 2}, {2, 1}}));  // sorted by count, then id
  EXPECT_EQ(row(2), (Row{{3, 1}}));
  EXPECT_EQ(row(3), (Row{{1, 1}}));
  EXPECT_EQ(row(6), (Row{{7, 1}}));  // short user's pair counts
  EXPECT_TRUE(row(0).empty());
  EXPECT_TRUE(row(4).empty());  // 3 -> 4 crosses into the validation target
  EXPECT_TRUE(row(8).empty());
  EXPECT_TRUE(row(9).empty());  // 9 -> 9 lies in the held-out part
  EXPECT_EQ(p.num_transitions, 2 + 1 + 3);
}

TEST(SplitTest, PriorsCountRepeats) {
  Dataset d;
  d.num_items = 2;
  d.sequences = {{2, 2, 2, 1, 1}};
  d.num_users = 1;
  const TrainingPriors p = ComputeTrainingPriors(d);
  ASSERT_EQ(p.transitions[2].size(), 1u);
  EXPECT_EQ(p.transitions[2][0].item, 2);
  EXPECT_EQ(p.transitions[2][0].count, 2);
}

TEST(SplitTest, BeautySplitMatchesTheProtocol) {
  const std::string path = std::string(VMLE_SHARED_DATA_DIR) + "/Beauty.txt";
  StatusOr<Dataset> data = ReadDataset(path, DatasetFormat::kSequential);
  if (!data.ok()) GTEST_SKIP() << data.status().ToString();
  const SplitSummary s = SummarizeSplit(*data);
  EXPECT_EQ(s.num_users, 22363);
  EXPECT_EQ(s.num_short_users, 0);  // 5-core: every user has at least 5 items
  EXPECT_EQ(s.num_train_interactions, 198502 - 2 * 22363);
  EXPECT_EQ(MakeEvalCases(*data, EvalSplit::kTest).size(), 22363u);
}

}  // namespace
}  // namespace vmle::trainer
