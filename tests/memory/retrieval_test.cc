// Retrieval of cognition summaries by dataset profile: with summaries learned on
// datasets of known profiles, the nearest dataset comes first.
#include "services/memory/store/retrieval.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "services/memory/store/memory_store.h"
#include "tests/memory/memory_test_util.h"

namespace vmle::memory::testing {
namespace {

using absl::StatusCode;
using ::testing::ElementsAre;

// Profiles of public sequential-recommendation datasets after 5-core filtering
// (users, items, interactions, mean and median history length, popularity skew).
v1::DatasetProfile Beauty() { return MakeProfile(22363, 12101, 198502, 8.88, 6, 0.61, 0.12); }
v1::DatasetProfile Sports() { return MakeProfile(35598, 18357, 296337, 8.32, 6, 0.55, 0.09); }
v1::DatasetProfile Toys() { return MakeProfile(19412, 11924, 167597, 8.63, 6, 0.59, 0.11); }
v1::DatasetProfile Yelp() { return MakeProfile(30431, 20033, 316354, 10.40, 8, 0.50, 0.07); }
v1::DatasetProfile Ml1m() { return MakeProfile(6040, 3416, 999611, 165.5, 96, 0.63, 0.08); }
v1::DatasetProfile Ml20m() { return MakeProfile(138493, 26744, 20000263, 144.4, 68, 0.78, 0.18); }

std::vector<v1::CognitionSummary> Library() {
  return {MakeSummary("cs-beauty", v1::BACKBONE_SASREC, "beauty", Beauty()),
          MakeSummary("cs-sports", v1::BACKBONE_SASREC, "sports", Sports()),
          MakeSummary("cs-yelp", v1::BACKBONE_SASREC, "yelp", Yelp()),
          MakeSummary("cs-ml1m", v1::BACKBONE_SASREC, "ml-1m", Ml1m())};
}

std::vector<std::string> Ids(const std::vector<v1::ScoredCognitionSummary>& results) {
  std::vector<std::string> ids;
  for (const auto& r : results) ids.push_back(r.summary().id());
  return ids;
}

TEST(RetrievalTest, AnAmazonCategoryFindsItsSiblingsFirstAndMovieLensLast) {
  const auto results = NearestSummaries(Library(), Toys(), 4);
  EXPECT_THAT(Ids(results), ElementsAre("cs-beauty", "cs-sports", "cs-yelp", "cs-ml1m"));
  for (size_t i = 1; i < results.size(); ++i) {
    EXPECT_LT(results[i].score(), results[i - 1].score());
  }
  EXPECT_GT(results[0].score(), 0.5);
  EXPECT_LT(results[3].score(), 0.3);
}

TEST(RetrievalTest, ALongHistoryDatasetFindsMovieLens) {
  EXPECT_THAT(Ids(NearestSummaries(Library(), Ml20m(), 1)), ElementsAre("cs-ml1m"));
}

TEST(RetrievalTest, IdenticalProfileScoresOneOthersLessButPositive) {
  EXPECT_EQ(ProfileSimilarity(Beauty(), Beauty()), 1.0);
  EXPECT_EQ(ProfileDistance(Beauty(), Beauty()), 0.0);
  const double far = ProfileSimilarity(Beauty(), Ml20m());
  EXPECT_GT(far, 0.0);
  EXPECT_LT(far, 1.0);
  const auto results = NearestSummaries(Library(), Beauty(), 2);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].summary().id(), "cs-beauty");
  EXPECT_EQ(results[0].score(), 1.0);
}

TEST(RetrievalTest, SizesCompareOnALogScale) {
  // 2,000 users is one doubling from 1,000; 250 is two halvings, though linearly nearer.
  v1::DatasetProfile query = MakeProfile(1000, 500, 10000, 10, 8, 0.5, 0.1);
  v1::DatasetProfile quarter = query;
  quarter.set_num_users(250);
  v1::DatasetProfile doubled = query;
  doubled.set_num_users(2000);
  EXPECT_LT(ProfileDistance(query, doubled), ProfileDistance(query, quarter));

  // A doubling weighs the same at any size, and the distance is symmetric.
  v1::DatasetProfile big = query;
  big.set_num_users(1000000);
  v1::DatasetProfile big_doubled = big;
  big_doubled.set_num_users(2000000);
  EXPECT_DOUBLE_EQ(ProfileDistance(big, big_doubled), ProfileDistance(query, doubled));
  EXPECT_DOUBLE_EQ(ProfileDistance(doubled, query), ProfileDistance(query, doubled));
}

TEST(RetrievalTest, SkewComparesLinearlyAndUnknownFeaturesAreSkipped) {
  v1::DatasetProfile a = MakeProfile(1000, 500, 10000, 10, 8, 0.3, 0.1);
  v1::DatasetProfile b = a;
  b.set_popularity_gini(0.4);
  v1::DatasetProfile c = a;
  c.set_popularity_gini(0.5);
  EXPECT_NEAR(ProfileDistance(a, c), 2 * ProfileDistance(a, b), 1e-12);

  // Without a median length on one side, the median does not count.
  v1::DatasetProfile no_median = a;
  no_median.set_median_length(0);
  v1::DatasetProfile other_median = a;
  other_median.set_median_length(80);
  EXPECT_EQ(ProfileDistance(no_median, other_median), 0.0);
}

TEST(RetrievalTest, WeightsChooseTheFeatures) {
  const RetrievalOptions only_length{0, 0, 0, 1, 0, 0, 0, 0};
  // By mean length alone, 9 items is nearest Beauty (8.9), then Sports (8.3); the
  // sizes, a hundred times smaller, do not count.
  EXPECT_THAT(
      Ids(NearestSummaries(Library(), MakeProfile(100, 100, 900, 9, 7, 0.5, 0.1), 2, only_length)),
      ElementsAre("cs-beauty", "cs-sports"));
  EXPECT_NEAR(ProfileDistance(MakeProfile(10, 10, 10, 8, 0, 0, 0),
                              MakeProfile(10, 10, 10, 16, 0, 0, 0), only_length),
              1.0, 1e-12);
}

TEST(RetrievalTest, TiesGoToTheNewerSummary) {
  std::vector<v1::CognitionSummary> same = {
      MakeSummary("cs-old", v1::BACKBONE_SASREC, "beauty", Beauty()),
      MakeSummary("cs-new", v1::BACKBONE_SASREC, "beauty", Beauty())};
  same[0].mutable_created_at()->set_seconds(1000);
  same[1].mutable_created_at()->set_seconds(2000);
  EXPECT_THAT(Ids(NearestSummaries(same, Beauty(), 2)), ElementsAre("cs-new", "cs-old"));
}

class RetrieveCognitionTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    for (const v1::CognitionSummary& s : Library()) Put(s);
    Put(MakeSummary("cs-hstu-toys", v1::BACKBONE_HSTU, "toys", Toys()));
  }
  void Put(const v1::CognitionSummary& summary) {
    v1::PutCognitionSummaryRequest request;
    *request.mutable_summary() = summary;
    ASSERT_THAT(store_->PutCognitionSummary(request), IsOk());
  }
};

TEST_F(RetrieveCognitionTest, NearestOfTheBackboneFirstWithScores) {
  v1::RetrieveCognitionRequest request;
  request.set_backbone(v1::BACKBONE_SASREC);
  *request.mutable_profile() = Toys();
  ASSERT_OK_AND_ASSIGN(v1::RetrieveCognitionResponse response, store_->RetrieveCognition(request));
  ASSERT_EQ(response.results_size(), 3);  // k defaults to 3
  EXPECT_EQ(response.results(0).summary().id(), "cs-beauty");
  EXPECT_EQ(response.results(1).summary().id(), "cs-sports");
  EXPECT_DOUBLE_EQ(response.results(0).score(), ProfileSimilarity(Toys(), Beauty()));

  request.set_backbone(v1::BACKBONE_HSTU);
  ASSERT_OK_AND_ASSIGN(response, store_->RetrieveCognition(request));
  ASSERT_EQ(response.results_size(), 1);
  EXPECT_EQ(response.results(0).summary().id(), "cs-hstu-toys");
  EXPECT_EQ(response.results(0).score(), 1.0);

  request.set_backbone(v1::BACKBONE_UNSPECIFIED);
  request.set_k(10);
  ASSERT_OK_AND_ASSIGN(response, store_->RetrieveCognition(request));
  EXPECT_EQ(response.results_size(), 5);
  EXPECT_EQ(response.results(0).summary().id(), "cs-hstu-toys");
}

TEST_F(RetrieveCognitionTest, BadQueries) {
  v1::RetrieveCognitionRequest request;
  EXPECT_THAT(store_->RetrieveCognition(request),
              StatusIs(StatusCode::kInvalidArgument, "profile: must be set"));
  *request.mutable_profile() = Toys();
  request.mutable_profile()->set_density(2);
  EXPECT_THAT(store_->RetrieveCognition(request),
              StatusIs(StatusCode::kInvalidArgument, "profile.density: 2 is outside [0, 1]"));
  *request.mutable_profile() = Toys();
  request.set_k(-1);
  EXPECT_THAT(store_->RetrieveCognition(request), StatusIs(StatusCode::kInvalidArgument, "k:"));
}

}  // namespace
}  // namespace vmle::memory::testing
