// The heuristic planner's rule-based memory: templated reflections, bounded working
// insights and the distilled cognition summary.
#include "services/agent/planner/heuristic_memory.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "services/agent/planner/heuristic_planner.h"
#include "tests/agent/heuristic_test_util.h"
#include "tests/agent/planning_loop.h"

namespace vmle::agent {
namespace {

using testing::Finished;
using testing::Key;
using testing::SasrecDefault;
using testing::With;

// Baseline; dropout up twice (both helped); lr down and hidden_dim up (both hurt).
PlanningContext Study() {
  PlanningContext context = testing::SasrecContext(1);
  context.spec.mutable_dataset()->set_name("beauty-sim");
  context.profile = testing::ShortProfile();
  const vmle::v1::Configuration base = SasrecDefault();
  const vmle::v1::Configuration d3 = With(base, "dropout", 0.3);
  const vmle::v1::Configuration d4 = With(base, "dropout", 0.4);
  context.history = {Finished(1, base, 0.050), Finished(2, d3, 0.055), Finished(3, d4, 0.05775),
                     Finished(4, With(d4, "lr", 1e-4), 0.040),
                     Finished(5, With(d4, "hidden_dim", int64_t{256}), 0.052)};
  return context;
}

vmle::v1::Reflection ReflectOn(const PlanningContext& context, int number) {
  absl::StatusOr<vmle::v1::Reflection> r =
      HeuristicReflection(context, context.history[static_cast<size_t>(number - 1)], HeuristicMemoryOptions{});
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : vmle::v1::Reflection();
}

TEST(HeuristicMemoryTest, ReflectionOnAChangeThatHelped) {
  const vmle::v1::Reflection r = ReflectOn(Study(), 2);
  EXPECT_EQ(r.knob(), "dropout");
  EXPECT_NEAR(r.relative_gain(), 0.10, 1e-9);
  EXPECT_TRUE(absl::StrContains(r.observation(), "+10.0%")) << r.observation();
  EXPECT_EQ(r.generalized_rule(), "raising dropout helps when mean_length < 10");
  EXPECT_TRUE(absl::StrContains(r.explanation(), "overfit")) << r.explanation();
  EXPECT_EQ(r.next_action(), "continue raising dropout with the same or a larger step");
  EXPECT_EQ(r.author(), "heuristic");
}

TEST(HeuristicMemoryTest, ReflectionNamesTheProposedChangeWhenItComparesWithAnotherNeighbour) {
  // Trial 4 was proposed as num_negatives up from trial 2; trial 3 (num_negatives up
  // from the baseline) finished meanwhile above trial 2 and is one dropout change away.
  PlanningContext context = testing::SasrecContext(1);
  context.profile = testing::ShortProfile();
  const vmle::v1::Configuration base = SasrecDefault();
  const vmle::v1::Configuration d3 = With(base, "dropout", 0.3);
  const vmle::v1::Configuration n = With(base, "num_negatives", int64_t{1000});
  vmle::v1::Trial proposed = Finished(4, With(d3, "num_negatives", int64_t{1000}), 0.060);
  proposed.mutable_proposal()->set_changed_dimension("num_negatives");
  context.history = {Finished(1, base, 0.050), Finished(2, d3, 0.055), Finished(3, n, 0.058), proposed};
  const vmle::v1::Reflection r = ReflectOn(context, 4);
  EXPECT_EQ(r.knob(), "dropout");
  EXPECT_TRUE(absl::StrContains(r.observation(), "against trial 3")) << r.observation();
  EXPECT_TRUE(absl::StrContains(r.observation(), "proposed as a change of num_negatives")) << r.observation();

  // Measured against the trial it was proposed from: nothing added.
  context.history[2] = Finished(3, n, 0.052);
  const vmle::v1::Reflection same = ReflectOn(context, 4);
  EXPECT_EQ(same.knob(), "num_negatives");
  EXPECT_FALSE(absl::StrContains(same.observation(), "proposed as")) << same.observation();
}

TEST(HeuristicMemoryTest, ReflectionOnAChangeThatHurtAndOnTheBaseline) {
  const vmle::v1::Reflection hurt = ReflectOn(Study(), 4);
  EXPECT_EQ(hurt.knob(), "lr");
  EXPECT_LT(hurt.relative_gain(), -0.2);
  EXPECT_EQ(hurt.generalized_rule(), "lowering lr hurts when mean_length < 10");
  EXPECT_TRUE(absl::StartsWith(hurt.next_action(), "roll back to trial 3")) << hurt.next_action();

  PlanningContext flat = Study();
  flat.history = {Finished(1, SasrecDefault(), 0.0500), Finished(2, With(SasrecDefault(), "num_heads", int64_t{2}), 0.0501)};
  const vmle::v1::Reflection tie = ReflectOn(flat, 2);
  EXPECT_EQ(tie.generalized_rule(), "num_heads is insensitive near a good configuration when mean_length < 10");
  EXPECT_TRUE(absl::StrContains(tie.next_action(), "trial 1")) << "the tie goes to the simpler baseline";

  const vmle::v1::Reflection baseline = ReflectOn(Study(), 1);
  EXPECT_EQ(baseline.knob(), "");
  EXPECT_EQ(baseline.relative_gain(), 0);
  EXPECT_FALSE(baseline.observation().empty());
}

PlanningContext WithReflections() {
  PlanningContext context = Study();
  for (int n = 1; n <= 5; ++n) context.reflections.push_back(ReflectOn(context, n));
  return context;
}

TEST(HeuristicMemoryTest, InsightsAreBoundedAndStrongestFirst) {
  absl::StatusOr<vmle::v1::WorkingInsights> w = HeuristicInsights(WithReflections(), HeuristicMemoryOptions{});
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->insights_size(), 3) << w->DebugString();
  EXPECT_EQ(w->insights(0).knob(), "dropout");
  EXPECT_EQ(w->insights(0).direction(), "up");
  EXPECT_EQ(w->insights(0).support(), 2);
  EXPECT_EQ(w->insights(0).contradict(), 0);
  EXPECT_DOUBLE_EQ(w->insights(0).confidence(), 0.75);
  EXPECT_TRUE(absl::StrContains(w->insights(0).text(), "helped in 2 of 2")) << w->insights(0).text();
  for (int i : {1, 2}) {
    EXPECT_EQ(w->insights(i).support(), 0);
    EXPECT_EQ(w->insights(i).contradict(), 1);
    EXPECT_TRUE(absl::StrContains(w->insights(i).text(), "did not help")) << w->insights(i).text();
  }
  EXPECT_EQ(w->through_trial(), 5);

  HeuristicMemoryOptions one;
  one.max_insights = 1;
  absl::StatusOr<vmle::v1::WorkingInsights> bounded = HeuristicInsights(WithReflections(), one);
  ASSERT_TRUE(bounded.ok());
  EXPECT_EQ(bounded->insights_size(), 1);
}

TEST(HeuristicMemoryTest, DistillationKeepsRulesOrderFailuresAndTheBest) {
  const PlanningContext context = WithReflections();
  absl::StatusOr<vmle::v1::CognitionSummary> s = HeuristicSummary(context, HeuristicMemoryOptions{});
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->rules_size(), 1) << s->DebugString();
  const vmle::v1::CognitionRule& rule = s->rules(0);
  EXPECT_EQ(rule.knob(), "dropout");
  EXPECT_EQ(rule.direction(), "up");
  EXPECT_EQ(rule.condition(), "mean_length < 10");
  EXPECT_NEAR(rule.effect(), 0.075, 1e-9);
  EXPECT_EQ(rule.evidence_trials(), 2);
  EXPECT_EQ(rule.evidence_datasets(), 1);
  EXPECT_DOUBLE_EQ(rule.confidence(), 0.75);
  EXPECT_FALSE(rule.text().empty());
  EXPECT_EQ(std::vector<std::string>(s->search_order().begin(), s->search_order().end()),
            (std::vector<std::string>{"baseline", "dropout"}));
  ASSERT_EQ(s->failed_attempts_size(), 2);
  EXPECT_TRUE(absl::StartsWith(s->failed_attempts(0), "lr down (-30.7% on trial 4)")) << s->failed_attempts(0);
  EXPECT_TRUE(absl::StartsWith(s->failed_attempts(1), "hidden_dim up")) << s->failed_attempts(1);
  EXPECT_EQ(Key(s->best_config()), Key(context.history[2].config()));
  EXPECT_DOUBLE_EQ(s->best_value(), 0.05775);
  EXPECT_TRUE(absl::StrContains(s->prose(), "beauty-sim")) << s->prose();
  EXPECT_EQ(s->dataset_name(), "beauty-sim");
}

TEST(HeuristicMemoryTest, NothingToDistillWithoutASucceededTrial) {
  PlanningContext context = testing::SasrecContext(1);
  vmle::v1::Trial failed = Finished(1, SasrecDefault(), 0);
  failed.set_status(vmle::v1::TRIAL_STATUS_FAILED);
  context.history = {failed};
  EXPECT_EQ(HeuristicSummary(context, HeuristicMemoryOptions{}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  HeuristicPlanner planner{HeuristicOptions{}};
  absl::StatusOr<std::optional<vmle::v1::CognitionSummary>> none = planner.Distill(context);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST(HeuristicMemoryTest, AStudyWithMemoryReflectsOnEveryTrial) {
  HeuristicPlanner planner{HeuristicOptions{}};
  const testing::StudyRecord record = testing::RunStudyWithMemory(
      planner, testing::SasrecContext(2), 12, 2,
      [](const vmle::v1::Configuration& c, int) { return 0.05 + 0.01 * testing::FloatOf(c, "dropout"); },
      {testing::ShortProfile(), {}});
  EXPECT_EQ(record.reflections.size(), 12u);
  EXPECT_LE(record.insights.insights_size(), 12);
  ASSERT_TRUE(record.summary.has_value());
  EXPECT_GT(record.summary->best_value(), 0.05);
}

}  // namespace
}  // namespace vmle::agent
