#include "services/trainer/data/synthetic.h"

#include <algorithm>
#include <cstdint>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "services/trainer/data/split.h"
#include "tests/trainer/data/test_util.h"

namespace vmle::trainer {
namespace {

using ::vmle::trainer::testing::HasError;

constexpr uint64_t kGoldenFingerprint = 15171916427211345717ull;

uint64_t Fingerprint(const Dataset& d) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over lengths and ids
  for (const auto& seq : d.sequences) {
    h = (h ^ static_cast<uint64_t>(seq.size())) * 1099511628211ull;
    for (int32_t item : seq) h = (h ^ static_cast<uint64_t>(item)) * 1099511628211ull;
  }
  return h;
}

TEST(SyntheticTest, IsDeterministicGivenTheSeed) {
  SyntheticOptions options;
  const Dataset a = GenerateSynthetic(options);
  const Dataset b = GenerateSynthetic(options);
  EXPECT_EQ(a.sequences, b.sequences);
  options.seed = 2;
  EXPECT_NE(GenerateSynthetic(options).sequences, a.sequences);
}

// mt19937_64 and the generator's own distributions are fully specified, so
// the output must not change across compilers and standard libraries. Update
// the constant only when changing the generator on purpose.
TEST(SyntheticTest, OutputIsStableAcrossPlatforms) {
  SyntheticOptions options;
  options.num_users = 50;
  options.num_items = 100;
  options.num_clusters = 5;
  const Dataset d = GenerateSynthetic(options);
  EXPECT_EQ(Fingerprint(d), kGoldenFingerprint) << "fingerprint " << Fingerprint(d);
}

TEST(SyntheticTest, SatisfiesDatasetInvariants) {
  SyntheticOptions options;
  const Dataset d = GenerateSynthetic(options);
  ASSERT_TRUE(ValidateDataset(d).ok()) << ValidateDataset(d).ToString();
  EXPECT_EQ(d.num_users, options.num_users);
  EXPECT_LE(d.num_items, options.num_items);
  std::set<int32_t> seen;
  for (const auto& seq : d.sequences) {
    EXPECT_GE(static_cast<int32_t>(seq.size()), options.min_length);
    EXPECT_LE(static_cast<int32_t>(seq.size()), options.max_length);
    for (size_t k = 1; k < seq.size(); ++k) EXPECT_NE(seq[k], seq[k - 1]);
    seen.insert(seq.begin(), seq.end());
  }
  EXPECT_EQ(static_cast<int64_t>(seen.size()), d.num_items);  // dense ids
}

TEST(SyntheticTest, ProfileLooksLikeAmazon) {
  const DatasetProfile p = ComputeProfile(GenerateSynthetic(SyntheticOptions()));
  EXPECT_NEAR(p.mean_length, 9.0, 0.5);
  EXPECT_LT(p.median_length, p.mean_length);  // long tail
  EXPECT_GE(p.max_length, 25);
  EXPECT_GT(p.num_items, 950);  // nearly every item is drawn at the default size
  EXPECT_GT(p.popularity_gini, 0.3);
  EXPECT_LT(p.popularity_gini, 0.8);
}

TEST(SyntheticTest, SkewControlsPopularityConcentration) {
  SyntheticOptions flat;
  flat.popularity_skew = 0;
  SyntheticOptions skewed;
  skewed.popularity_skew = 1.2;
  EXPECT_LT(ComputeProfile(GenerateSynthetic(flat)).popularity_gini,
            ComputeProfile(GenerateSynthetic(skewed)).popularity_gini - 0.2);
}

// Recall@10 on validation targets of two training-split baselines.
struct Baselines {
  double popularity = 0;
  double markov = 0;
};

Baselines ValidationRecallAt10(const Dataset& d) {
  const TrainingPriors priors = ComputeTrainingPriors(d);
  std::vector<int32_t> popular(priors.popularity.size() - 1);
  for (size_t i = 0; i < popular.size(); ++i) popular[i] = static_cast<int32_t>(i + 1);
  std::stable_sort(popular.begin(), popular.end(), [&](int32_t a, int32_t b) {
    return priors.popularity[static_cast<size_t>(a)] > priors.popularity[static_cast<size_t>(b)];
  });
  popular.resize(std::min<size_t>(10, popular.size()));
  Baselines hits;
  const std::vector<EvalCase> cases = MakeEvalCases(d, EvalSplit::kValidation);
  for (const EvalCase& c : cases) {
    const auto& seq = d.sequences[static_cast<size_t>(c.user_id - 1)];
    const auto& next = priors.transitions[static_cast<size_t>(seq[c.history_length - 1])];
    for (size_t k = 0; k < next.size() && k < 10; ++k) hits.markov += next[k].item == c.target;
    hits.popularity += std::count(popular.begin(), popular.end(), c.target);
  }
  hits.markov /= static_cast<double>(cases.size());
  hits.popularity /= static_cast<double>(cases.size());
  return hits;
}

TEST(SyntheticTest, FirstOrderMarkovBeatsPopularityByAWideMargin) {
  const Baselines recall = ValidationRecallAt10(GenerateSynthetic(SyntheticOptions()));
  RecordProperty("markov_recall10", std::to_string(recall.markov));
  RecordProperty("popularity_recall10", std::to_string(recall.popularity));
  EXPECT_GT(recall.markov, 0.4);
  EXPECT_GT(recall.markov, 3 * recall.popularity)
      << "markov " << recall.markov << " popularity " << recall.popularity;
}

// The successor table, not just the clusters, is what the last item reveals.
TEST(SyntheticTest, WithoutTransitionsMarkovLosesMostOfItsEdge) {
  const Baselines with = ValidationRecallAt10(GenerateSynthetic(SyntheticOptions()));
  SyntheticOptions options;
  options.transition_strength = 0;
  const Baselines without = ValidationRecallAt10(GenerateSynthetic(options));
  EXPECT_LT(without.markov, with.markov / 2);
}

TEST(SyntheticTest, ValidationNamesTheOffendingField) {
  EXPECT_TRUE(ValidateSyntheticOptions(SyntheticOptions()).ok());
  SyntheticOptions o;
  o.num_clusters = 0;
  EXPECT_TRUE(HasError(ValidateSyntheticOptions(o), StatusCode::kInvalidArgument, "num_clusters"));
  o = {};
  o.transition_strength = 1.5;
  EXPECT_TRUE(
      HasError(ValidateSyntheticOptions(o), StatusCode::kInvalidArgument, "transition_strength"));
  o = {};
  o.mean_length = 3;
  EXPECT_TRUE(HasError(ValidateSyntheticOptions(o), StatusCode::kInvalidArgument, "mean_length"));
}

TEST(SyntheticTest, ClampsInvalidOptionsInsteadOfCrashing) {
  SyntheticOptions o;
  o.num_users = 20;
  o.num_items = 3;
  o.num_clusters = 50;
  o.min_length = -4;
  o.max_length = 0;
  o.mean_length = -1;
  o.popularity_skew = -2;
  o.transition_strength = 7;
  o.max_user_clusters = 99;
  const Dataset d = GenerateSynthetic(o);
  EXPECT_TRUE(ValidateDataset(d).ok());
  EXPECT_EQ(d.num_users, 20);
  EXPECT_LE(d.num_items, 3);
  o.num_items = 1;  // no successor can differ from its item
  EXPECT_TRUE(ValidateDataset(GenerateSynthetic(o)).ok());
}

}  // namespace
}  // namespace vmle::trainer
