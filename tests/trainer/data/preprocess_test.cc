// Preprocessing pipeline against hand-computed answers, plus the k-core
// peeling checked against the naive repeat-until-stable definition.

#include "services/trainer/data/preprocess.h"

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/trainer/data/test_util.h"

namespace vmle::trainer {
namespace {

using ::vmle::trainer::testing::HasError;
using Sequences = std::vector<std::vector<int32_t>>;

// A log from (user, item, time) triples; key spaces sized by the largest key.
InteractionLog MakeLog(const std::vector<RawInteraction>& interactions,
                       ItemIdOrder order = ItemIdOrder::kFirstAppearance) {
  InteractionLog log;
  log.interactions = interactions;
  log.item_order = order;
  for (const RawInteraction& in : interactions) {
    log.num_user_keys = std::max(log.num_user_keys, in.user + 1);
    log.num_item_keys = std::max(log.num_item_keys, in.item + 1);
  }
  return log;
}

// The definition: remove users and items below threshold, repeat until stable.
std::vector<bool> NaiveKCore(const InteractionLog& log, int user_min, int item_min) {
  std::vector<bool> alive(log.interactions.size(), true);
  for (bool changed = true; changed;) {
    changed = false;
    std::vector<int> users(static_cast<size_t>(log.num_user_keys), 0);
    std::vector<int> items(static_cast<size_t>(log.num_item_keys), 0);
    for (size_t e = 0; e < alive.size(); ++e) {
      if (!alive[e]) continue;
      ++users[static_cast<size_t>(log.interactions[e].user)];
      ++items[static_cast<size_t>(log.interactions[e].item)];
    }
    for (size_t e = 0; e < alive.size(); ++e) {
      const RawInteraction& in = log.interactions[e];
      if (alive[e] && (users[static_cast<size_t>(in.user)] < user_min ||
                       items[static_cast<size_t>(in.item)] < item_min)) {
        alive[e] = false;
        changed = true;
      }
    }
  }
  return alive;
}

TEST(KCoreTest, CascadesUntilStable) {
  // k = 2. Item 3 has one interaction -> user 3 falls to one -> item 2 falls
  // to one -> user 2 falls to one -> item 1 falls to two and survives: four
  // rounds of the naive definition.
  const InteractionLog log = MakeLog({
      {0, 0, 0},
      {0, 1, 0},  // user 0: items 0, 1
      {1, 0, 0},
      {1, 1, 0},  // user 1: items 0, 1
      {2, 1, 0},
      {2, 2, 0},  // user 2: items 1, 2
      {3, 2, 0},
      {3, 3, 0},  // user 3: items 2, 3
  });
  const std::vector<bool> expected = {true, true, true, true, false, false, false, false};
  EXPECT_EQ(KCoreMask(log, 2, 2), expected);
  EXPECT_EQ(NaiveKCore(log, 2, 2), expected);
}

TEST(KCoreTest, ThresholdsAtOrBelowOneKeepEverything) {
  const InteractionLog log = MakeLog({{0, 0, 0}, {1, 1, 0}});
  EXPECT_EQ(KCoreMask(log, 0, 1), (std::vector<bool>{true, true}));
  EXPECT_EQ(KCoreMask(log, -3, -3), (std::vector<bool>{true, true}));
}

TEST(KCoreTest, CountsRepeatedPairsPerOccurrence) {
  const InteractionLog log = MakeLog({{0, 0, 0}, {0, 0, 1}, {1, 1, 0}});
  EXPECT_EQ(KCoreMask(log, 2, 2), (std::vector<bool>{true, true, false}));
}

TEST(KCoreTest, MatchesTheNaiveDefinitionOnRandomLogs) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<RawInteraction> interactions(20 + rng() % 300);
    const int users = 1 + static_cast<int>(rng() % 40);
    const int items = 1 + static_cast<int>(rng() % 40);
    for (auto& in : interactions) {
      in = {static_cast<int32_t>(rng() % users), static_cast<int32_t>(rng() % items), 0};
    }
    const InteractionLog log = MakeLog(interactions);
    const int user_min = static_cast<int>(rng() % 8);
    const int item_min = static_cast<int>(rng() % 8);
    ASSERT_EQ(KCoreMask(log, user_min, item_min), NaiveKCore(log, user_min, item_min))
        << "round " << round;
  }
}

TEST(PreprocessTest, SortsStablyAndReindexesByFirstAppearance) {
  // User keys 0 ("first in file") and 1. Items 10 keys wide.
  const InteractionLog log = MakeLog({
      {1, 7, 30},
      {0, 9, 20},
      {1, 5, 10},
      {0, 4, 20},
      {0, 3, 5},
      {1, 9, 30},
  });
  StatusOr<Dataset> data = Preprocess(log, {}, "log");
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  // User 0 by time: 3 (5), 9 (20), 4 (20, after 9 in file) -> ids 1, 2, 3.
  // User 1 by time: 5 (10), 7 (30), 9 (30) -> ids 4, 5, 2.
  EXPECT_EQ(data->num_users, 2);
  EXPECT_EQ(data->num_items, 5);
  EXPECT_EQ(data->sequences, (Sequences{{1, 2, 3}, {4, 5, 2}}));
}

TEST(PreprocessTest, KeyIndexOrderIsMonotone) {
  const InteractionLog log =
      MakeLog({{0, 8, 0}, {0, 2, 1}, {1, 5, 0}, {1, 2, 1}}, ItemIdOrder::kKeyIndex);
  StatusOr<Dataset> data = Preprocess(log, {}, "log");
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->sequences, (Sequences{{3, 1}, {2, 1}}));  // 2 -> 1, 5 -> 2, 8 -> 3
}

TEST(PreprocessTest, UsersWithoutSurvivingInteractionsLoseTheirIds) {
  const InteractionLog log = MakeLog({{0, 0, 0}, {1, 1, 0}, {1, 2, 1}, {2, 0, 0}, {2, 2, 1}});
  PreprocessOptions options;
  options.min_length = 2;
  StatusOr<Dataset> data = Preprocess(log, options, "log");
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  // User key 0 is dropped; keys 1 and 2 become users 1 and 2.
  EXPECT_EQ(data->sequences, (Sequences{{1, 2}, {3, 2}}));
}

TEST(PreprocessTest, TruncatesToTheLastItemsAfterFiltering) {
  const InteractionLog log = MakeLog({
      {0, 0, 1},
      {0, 1, 2},
      {0, 2, 3},
      {0, 3, 4},
      {0, 4, 5},  // 5 items
      {1, 2, 1},
      {1, 5, 2},  // 2 items
  });
  PreprocessOptions options;
  options.max_length = 3;
  StatusOr<Dataset> data = Preprocess(log, options, "log");
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  // User 0 keeps item keys 2, 3, 4; item keys 0 and 1 vanish entirely.
  EXPECT_EQ(data->num_items, 4);
  EXPECT_EQ(data->sequences, (Sequences{{1, 2, 3}, {1, 4}}));
}

TEST(PreprocessTest, KCoreThenTruncationOnHandExample) {
  // k = 2 removes item key 9 (one interaction) and then nothing else.
  const InteractionLog log = MakeLog({
      {0, 1, 1},
      {0, 2, 2},
      {0, 9, 3},
      {1, 1, 1},
      {1, 2, 2},
      {1, 3, 3},
      {2, 3, 1},
      {2, 1, 2},
  });
  PreprocessOptions options;
  options.k_core = 2;
  options.max_length = 2;
  StatusOr<Dataset> data = Preprocess(log, options, "log");
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->sequences, (Sequences{{1, 2}, {2, 3}, {3, 1}}));
}

TEST(PreprocessTest, EmptyResultIsFailedPreconditionWithHint) {
  const InteractionLog log = MakeLog({{0, 0, 0}, {1, 1, 0}});
  PreprocessOptions options;
  options.k_core = 2;
  EXPECT_TRUE(HasError(Preprocess(log, options, "f.txt").status(), StatusCode::kFailedPrecondition,
                       "f.txt: no interactions left after filtering (2 read; k_core=2"));
  EXPECT_TRUE(HasError(Preprocess(InteractionLog(), {}, "f.txt").status(),
                       StatusCode::kFailedPrecondition, "f.txt: contains no interactions"));
}

TEST(PreprocessTest, RejectsBadOptionsAndKeys) {
  const InteractionLog log = MakeLog({{0, 0, 0}});
  PreprocessOptions options;
  options.max_length = -1;
  EXPECT_TRUE(
      HasError(Preprocess(log, options, "x").status(), StatusCode::kInvalidArgument, "max_length"));
  InteractionLog bad = log;
  bad.interactions.push_back({0, 5, 0});
  EXPECT_TRUE(HasError(Preprocess(bad, {}, "x").status(), StatusCode::kInvalidArgument,
                       "x: interaction 1 has a key index out of range"));
}

}  // namespace
}  // namespace vmle::trainer
