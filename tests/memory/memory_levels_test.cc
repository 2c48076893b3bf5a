// MemoryStore's memory levels above the trial log: L1 reflections, L2 working
// insights, L3 cognition summaries.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "services/memory/store/memory_store.h"
#include "tests/memory/memory_test_util.h"

namespace vmle::memory::testing {
namespace {

using absl::StatusCode;
using ::testing::ElementsAre;

class ReflectionTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    PutStudy(MakeStudy("st-1"));
    for (int n = 1; n <= 3; ++n) ASSERT_THAT(PutTrial(MakeTrial("st-1", n)), IsOk());
  }
  absl::Status Put(const std::string& trial_id, int number, const std::string& rule) {
    v1::PutReflectionRequest request;
    v1::Reflection* r = request.mutable_reflection();
    r->set_study_id("st-1");
    r->set_trial_id(trial_id);
    r->set_trial_number(number);
    r->set_observation("val NDCG@10 rose");
    r->set_generalized_rule(rule);
    r->set_knob("hidden_dim");
    r->set_relative_gain(0.06);
    return store_->PutReflection(request).status();
  }
  std::vector<std::string> Rules() {
    v1::ListReflectionsRequest request;
    request.set_study_id("st-1");
    absl::StatusOr<v1::ListReflectionsResponse> response = store_->ListReflections(request);
    EXPECT_TRUE(response.ok()) << response.status();
    std::vector<std::string> rules;
    if (response.ok()) {
      for (const v1::Reflection& r : response->reflections()) {
        rules.push_back(absl::StrCat(r.trial_number(), ":", r.generalized_rule()));
      }
    }
    return rules;
  }
};

TEST_F(ReflectionTest, ListedInTrialNumberOrderOnePerTrial) {
  ASSERT_THAT(Put("t-3", 3, "c"), IsOk());
  ASSERT_THAT(Put("t-1", 0, "a"), IsOk());  // number taken from the trial
  ASSERT_THAT(Put("t-2", 2, "b"), IsOk());
  ASSERT_THAT(Put("t-2", 2, "b2"), IsOk());  // replaces
  EXPECT_THAT(Rules(), ElementsAre("1:a", "2:b2", "3:c"));
}

TEST_F(ReflectionTest, UnknownTrialOrMismatchedNumber) {
  EXPECT_THAT(Put("t-9", 9, "x"), StatusIs(StatusCode::kNotFound, "trial 't-9' of study 'st-1'"));
  EXPECT_THAT(Put("t-2", 3, "x"),
              StatusIs(StatusCode::kInvalidArgument, "reflection.trial_number: 3 differs"));
  EXPECT_THAT(Put("", 1, "x"),
              StatusIs(StatusCode::kInvalidArgument, "reflection.trial_id: must be non-empty"));
  v1::ListReflectionsRequest list;
  list.set_study_id("st-none");
  EXPECT_THAT(store_->ListReflections(list), StatusIs(StatusCode::kNotFound, "st-none"));
  EXPECT_THAT(Rules(), ElementsAre());
}

class InsightsTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    PutStudy(MakeStudy("st-1"));
  }
  static v1::PutInsightsRequest Insights(int count) {
    v1::PutInsightsRequest request;
    request.mutable_insights()->set_study_id("st-1");
    request.mutable_insights()->set_through_trial(count);
    for (int i = 0; i < count; ++i) {
      v1::Insight* insight = request.mutable_insights()->add_insights();
      insight->set_text(absl::StrCat("insight ", i));
      insight->set_knob("lr");
      insight->set_direction("down");
      insight->set_support(2);
      insight->set_confidence(0.5);
    }
    return request;
  }
  absl::StatusOr<v1::WorkingInsights> Get(const std::string& study_id) {
    v1::GetInsightsRequest request;
    request.set_study_id(study_id);
    return store_->GetInsights(request);
  }
};

TEST_F(InsightsTest, EmptyUntilPutThenReplacedAsAWhole) {
  ASSERT_OK_AND_ASSIGN(v1::WorkingInsights none, Get("st-1"));
  EXPECT_EQ(none.study_id(), "st-1");
  EXPECT_EQ(none.insights_size(), 0);
  ASSERT_THAT(store_->PutInsights(Insights(3)), IsOk());
  ASSERT_THAT(store_->PutInsights(Insights(2)), IsOk());
  ASSERT_OK_AND_ASSIGN(v1::WorkingInsights stored, Get("st-1"));
  EXPECT_EQ(DeterministicBytes(stored), DeterministicBytes(Insights(2).insights()));
  EXPECT_THAT(Get("st-none"), StatusIs(StatusCode::kNotFound, "st-none"));
}

TEST_F(InsightsTest, TheListIsBoundedAndValidated) {
  options_.max_insights = 4;
  Reopen();
  EXPECT_THAT(
      store_->PutInsights(Insights(5)),
      StatusIs(StatusCode::kInvalidArgument, "insights.insights: 5 entries exceed the limit of 4"));
  v1::PutInsightsRequest request = Insights(2);
  request.mutable_insights()->mutable_insights(1)->set_confidence(1.5);
  EXPECT_THAT(store_->PutInsights(request),
              StatusIs(StatusCode::kInvalidArgument,
                       "insights.insights[1].confidence: 1.5 is outside [0, 1]"));
  request = Insights(1);
  request.mutable_insights()->set_study_id("st-none");
  EXPECT_THAT(store_->PutInsights(request), StatusIs(StatusCode::kNotFound, "st-none"));
}

using CognitionTest = StoreTest;

v1::DatasetProfile BeautyLike() { return MakeProfile(22363, 12101, 198502, 8.88, 6, 0.61, 0.12); }

TEST_F(CognitionTest, PutAssignsAnIdAndTimeGetReturnsIt) {
  v1::PutCognitionSummaryRequest request;
  *request.mutable_summary() = MakeSummary("", v1::BACKBONE_SASREC, "beauty", BeautyLike());
  ASSERT_OK_AND_ASSIGN(v1::PutCognitionSummaryResponse put, store_->PutCognitionSummary(request));
  EXPECT_TRUE(absl::StartsWith(put.id(), "cs-")) << put.id();
  EXPECT_EQ(put.id().size(), 19u);

  v1::GetCognitionSummaryRequest get;
  get.set_id(put.id());
  ASSERT_OK_AND_ASSIGN(v1::CognitionSummary stored, store_->GetCognitionSummary(get));
  EXPECT_EQ(stored.id(), put.id());
  EXPECT_GT(stored.created_at().seconds(), 1700000000);
  EXPECT_EQ(stored.rules(0).knob(), "tie_embeddings");

  get.set_id("cs-none");
  EXPECT_THAT(store_->GetCognitionSummary(get),
              StatusIs(StatusCode::kNotFound, "cognition summary 'cs-none' not found"));
}

TEST_F(CognitionTest, ListFiltersByBackbone) {
  for (const auto& [id, backbone] :
       std::vector<std::pair<std::string, v1::Backbone>>{{"cs-b", v1::BACKBONE_HSTU},
                                                         {"cs-a", v1::BACKBONE_SASREC},
                                                         {"cs-c", v1::BACKBONE_SASREC}}) {
    v1::PutCognitionSummaryRequest request;
    *request.mutable_summary() = MakeSummary(id, backbone, id, BeautyLike());
    ASSERT_THAT(store_->PutCognitionSummary(request), IsOk());
  }
  const auto ids = [&](v1::Backbone backbone) {
    v1::ListCognitionSummariesRequest request;
    request.set_backbone(backbone);
    std::vector<std::string> out;
    absl::StatusOr<v1::ListCognitionSummariesResponse> r = store_->ListCognitionSummaries(request);
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) {
      for (const v1::CognitionSummary& s : r->summaries()) out.push_back(s.id());
    }
    return out;
  };
  EXPECT_THAT(ids(v1::BACKBONE_UNSPECIFIED), ElementsAre("cs-a", "cs-b", "cs-c"));
  EXPECT_THAT(ids(v1::BACKBONE_SASREC), ElementsAre("cs-a", "cs-c"));
  EXPECT_THAT(ids(v1::BACKBONE_HSTU), ElementsAre("cs-b"));
}

TEST_F(CognitionTest, MalformedSummariesNameTheField) {
  v1::PutCognitionSummaryRequest request;
  *request.mutable_summary() = MakeSummary("cs-1", v1::BACKBONE_UNSPECIFIED, "x", BeautyLike());
  EXPECT_THAT(store_->PutCognitionSummary(request),
              StatusIs(StatusCode::kInvalidArgument, "summary.backbone: must be set"));
  request.mutable_summary()->set_backbone(v1::BACKBONE_SASREC);
  request.mutable_summary()->clear_dataset_profile();
  EXPECT_THAT(store_->PutCognitionSummary(request),
              StatusIs(StatusCode::kInvalidArgument, "summary.dataset_profile: must be set"));
  *request.mutable_summary()->mutable_dataset_profile() = BeautyLike();
  request.mutable_summary()->mutable_dataset_profile()->set_num_users(0);
  EXPECT_THAT(store_->PutCognitionSummary(request),
              StatusIs(StatusCode::kInvalidArgument,
                       "summary.dataset_profile.num_users: must be positive"));
  *request.mutable_summary()->mutable_dataset_profile() = BeautyLike();
  request.mutable_summary()->mutable_rules(0)->set_confidence(2);
  EXPECT_THAT(store_->PutCognitionSummary(request),
              StatusIs(StatusCode::kInvalidArgument, "summary.rules[0].confidence"));
  request.mutable_summary()->mutable_rules(0)->set_confidence(0.5);
  request.mutable_summary()->mutable_rules(0)->clear_knob();
  EXPECT_THAT(store_->PutCognitionSummary(request),
              StatusIs(StatusCode::kInvalidArgument, "summary.rules[0].knob: must be non-empty"));
  EXPECT_THAT(store_->PutCognitionSummary({}),
              StatusIs(StatusCode::kInvalidArgument, "summary: must be set"));
}

}  // namespace
}  // namespace vmle::memory::testing
