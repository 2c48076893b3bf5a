// The heuristic planner's rule-based memory: templated reflections, bounded working
// insights and the distilled cognition summary.
#include "services/agent/planner/heuristic/heuristic_memory.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "services/agent/planner/heuristic/heuristic_planner.h"
#include "tests/agent/heuristic_test_util.h"
#include "tests/agent/planning_loop.h"

namespace vmle::agent {
namespace {

using testing::Finished;
using testing::Key;
using testing::SasrecDefault;
using testing::With;

// `trial` run on `seed`, with its seed plan.
vmle::v1::Trial On(vmle::v1::Trial trial, uint64_t seed, int derived_from = 0, int replicate_of = 0) {
  trial.set_seed(seed);
  trial.mutable_proposal()->set_derived_from(derived_from);
  trial.mutable_proposal()->set_seed_from(derived_from);
  trial.mutable_proposal()->set_replicate_of(replicate_of);
  return trial;
}

// Baseline on two seeds; dropout 0.3 paired with it on both (+10%, +9.8%); dropout 0.4
// from 0.3 (+5% on the same seed); lr down and hidden_dim up from there (both hurt).
PlanningContext Study() {
  PlanningContext context = testing::SasrecContext(1);
  context.spec.mutable_dataset()->set_name("beauty-sim");
  context.spec.mutable_budget()->set_max_trials(16);
  context.profile = testing::ShortProfile();
  const vmle::v1::Configuration base = SasrecDefault();
  const vmle::v1::Configuration d3 = With(base, "dropout", 0.3);
  const vmle::v1::Configuration d4 = With(base, "dropout", 0.4);
  context.history = {On(Finished(1, base, 0.050), 11),
                     On(Finished(2, base, 0.0502), 12, 1, 1),
                     On(Finished(3, d3, 0.055), 11, 1),
                     On(Finished(4, d3, 0.0551), 12, 3, 3),
                     On(Finished(5, d4, 0.05775), 11, 3),
                     On(Finished(6, With(d4, "lr", 1e-4), 0.040), 11, 5),
                     On(Finished(7, With(d4, "hidden_dim", int64_t{256}), 0.052), 11, 5)};
  context.history[3].mutable_proposal()->set_seed_from(2);
  return context;
}

vmle::v1::Reflection ReflectOn(const PlanningContext& context, int number) {
  absl::StatusOr<vmle::v1::Reflection> r =
      HeuristicReflection(context, context.history[static_cast<size_t>(number - 1)], HeuristicMemoryOptions{});
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : vmle::v1::Reflection();
}

TEST(HeuristicMemoryTest, ReflectionOnAChangeThatHelped) {
  const vmle::v1::Reflection r = ReflectOn(Study(), 3);
  EXPECT_EQ(r.knob(), "dropout");
  EXPECT_NEAR(r.relative_gain(), 0.10, 1e-9);
  // The gain is measured on the same seed and stated with its interval and the noise.
  EXPECT_TRUE(absl::StrContains(r.observation(), "+10.0% ±")) << r.observation();
  EXPECT_TRUE(absl::StrContains(r.observation(), "on the same seed")) << r.observation();
  EXPECT_TRUE(absl::StrContains(r.observation(), "seed noise")) << r.observation();
  EXPECT_EQ(r.generalized_rule(), "raising dropout helps when mean_length < 10");
  EXPECT_TRUE(absl::StrContains(r.explanation(), "overfit")) << r.explanation();
  EXPECT_EQ(r.next_action(), "continue raising dropout with the same or a larger step");
  EXPECT_EQ(r.author(), "heuristic");
}

TEST(HeuristicMemoryTest, AReplicateIsReflectedOnAsEvidenceNotAsAChange) {
  const vmle::v1::Reflection r = ReflectOn(Study(), 2);
  EXPECT_EQ(r.knob(), "");
  EXPECT_EQ(r.relative_gain(), 0);
  EXPECT_TRUE(absl::StrContains(r.observation(), "a replicate")) << r.observation();
  EXPECT_TRUE(absl::StrContains(r.observation(), "over 2 seeds")) << r.observation();
  EXPECT_TRUE(absl::StrContains(r.observation(), "seed noise 0.2% (2 replicated configurations")) << r.observation();
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

TEST(HeuristicMemoryTest, ReflectionOnAChangeThatHurtOneWithinTheNoiseAndTheBaseline) {
  const vmle::v1::Reflection hurt = ReflectOn(Study(), 6);
  EXPECT_EQ(hurt.knob(), "lr");
  EXPECT_LT(hurt.relative_gain(), -0.2);
  EXPECT_EQ(hurt.generalized_rule(), "lowering lr hurts when mean_length < 10");
  EXPECT_TRUE(absl::StartsWith(hurt.next_action(), "roll back to trial 5")) << hurt.next_action();

  PlanningContext flat = Study();
  flat.history = {Finished(1, SasrecDefault(), 0.0500), Finished(2, With(SasrecDefault(), "num_heads", int64_t{2}), 0.0501)};
  const vmle::v1::Reflection tie = ReflectOn(flat, 2);
  EXPECT_EQ(tie.generalized_rule(), "no clear effect of raising num_heads when mean_length < 10 from one comparison");
  EXPECT_TRUE(absl::StrContains(tie.explanation(), "inside the seed noise")) << tie.explanation();
  EXPECT_TRUE(absl::StrContains(tie.next_action(), "trial 1")) << "a gain inside the noise does not make a best";

  const vmle::v1::Reflection baseline = ReflectOn(Study(), 1);
  EXPECT_EQ(baseline.knob(), "");
  EXPECT_EQ(baseline.relative_gain(), 0);
  EXPECT_FALSE(baseline.observation().empty());
}

PlanningContext WithReflections() {
  PlanningContext context = Study();
  for (int n = 1; n <= 7; ++n) context.reflections.push_back(ReflectOn(context, n));
  return context;
}

TEST(HeuristicMemoryTest, InsightsCarryTheirEffectIntervalAndNStrongestFirst) {
  absl::StatusOr<vmle::v1::WorkingInsights> w = HeuristicInsights(WithReflections(), HeuristicMemoryOptions{});
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->insights_size(), 3) << w->DebugString();
  const vmle::v1::Insight& dropout = w->insights(0);
  EXPECT_EQ(dropout.knob(), "dropout");
  EXPECT_EQ(dropout.direction(), "up");
  EXPECT_EQ(dropout.comparisons(), 2) << "two paired seeds of 0.3 against the baseline";
  EXPECT_TRUE(dropout.clear());
  EXPECT_GT(dropout.effect_low(), 0);
  EXPECT_LT(dropout.effect_low(), dropout.effect());
  EXPECT_GT(dropout.effect_high(), dropout.effect());
  EXPECT_EQ(dropout.support(), 2);
  EXPECT_TRUE(absl::StartsWith(dropout.text(), "raising dropout helped: +")) << dropout.text();
  EXPECT_TRUE(absl::StrContains(dropout.text(), "2 paired seeds")) << dropout.text();
  // 0.3 to 0.4 is evidence about a tuned value, in the same statement.
  EXPECT_TRUE(absl::StrContains(dropout.text(), "raising dropout (from a tuned value)")) << dropout.text();
  for (int i : {1, 2}) {
    EXPECT_TRUE(w->insights(i).clear());
    EXPECT_LT(w->insights(i).effect_high(), 0);
    EXPECT_TRUE(absl::StrContains(w->insights(i).text(), " hurt: ")) << w->insights(i).text();
  }
  EXPECT_EQ(w->through_trial(), 7);

  HeuristicMemoryOptions one;
  one.max_insights = 1;
  absl::StatusOr<vmle::v1::WorkingInsights> bounded = HeuristicInsights(WithReflections(), one);
  ASSERT_TRUE(bounded.ok());
  EXPECT_EQ(bounded->insights_size(), 1);
}

TEST(HeuristicMemoryTest, DistillationKeepsOnlyRulesClearOfTheNoiseWithTheirIntervals) {
  const PlanningContext context = WithReflections();
  absl::StatusOr<vmle::v1::CognitionSummary> s = HeuristicSummary(context, HeuristicMemoryOptions{});
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->rules_size(), 1) << s->DebugString();
  const vmle::v1::CognitionRule& rule = s->rules(0);
  EXPECT_EQ(rule.knob(), "dropout");
  EXPECT_EQ(rule.direction(), "up");
  EXPECT_EQ(rule.condition(), "mean_length < 10");
  // Only the moves from the default carry to another dataset: 0.2 to 0.3 on two seeds.
  EXPECT_NEAR(rule.effect(), (0.10 + (0.0551 - 0.0502) / 0.0502) / 2, 1e-9);
  EXPECT_EQ(rule.comparisons(), 2);
  EXPECT_GT(rule.effect_low(), 0);
  EXPECT_GT(rule.effect_high(), rule.effect());
  EXPECT_EQ(std::vector<std::string>(rule.sources().begin(), rule.sources().end()),
            std::vector<std::string>{"beauty-sim"});
  EXPECT_EQ(rule.evidence_datasets(), 1);
  EXPECT_TRUE(absl::StrContains(rule.text(), "2 paired seeds")) << rule.text();
  EXPECT_EQ(std::vector<std::string>(s->search_order().begin(), s->search_order().end()),
            (std::vector<std::string>{"baseline", "dropout"}));
  ASSERT_EQ(s->failed_attempts_size(), 2);
  EXPECT_TRUE(absl::StartsWith(s->failed_attempts(0), "hidden_dim up (-10.0% ±")) << s->failed_attempts(0);
  EXPECT_TRUE(absl::StartsWith(s->failed_attempts(1), "lr down (-30.7% ±")) << s->failed_attempts(1);
  EXPECT_EQ(Key(s->best_config()), Key(context.history[4].config()));
  EXPECT_DOUBLE_EQ(s->best_value(), 0.05775);
  EXPECT_TRUE(absl::StrContains(s->prose(), "beauty-sim")) << s->prose();
  EXPECT_EQ(s->dataset_name(), "beauty-sim");
}

// Evidence about one knob is one statement: raising lr from its default and lowering
// it both helping (on the same seed) is no clear direction, never a rule "up" beside a
// rule "down"; raising a tuned value again is evidence in the same statement.
TEST(HeuristicMemoryTest, ContradictingEvidenceNeverYieldsTwoOppositeRules) {
  PlanningContext context = testing::SasrecContext(1);
  context.profile = testing::ShortProfile();
  const vmle::v1::Configuration base = SasrecDefault();
  const double lr = testing::FloatOf(base, "lr");
  const vmle::v1::Configuration up = With(base, "lr", 2 * lr);
  context.history = {On(Finished(1, base, 0.050), 11),
                     On(Finished(2, up, 0.054), 11, 1),                         // raising lr: +8%
                     On(Finished(3, With(up, "lr", 4 * lr), 0.0497), 11, 2),      // raising it again: -8%
                     On(Finished(4, With(base, "lr", lr / 2), 0.0525), 11, 1)};  // lowering it: +5%
  absl::StatusOr<vmle::v1::CognitionSummary> s = HeuristicSummary(context, HeuristicMemoryOptions{});
  ASSERT_TRUE(s.ok()) << s.status();
  for (const vmle::v1::CognitionRule& r : s->rules()) EXPECT_NE(r.knob(), "lr") << r.DebugString();
  absl::StatusOr<vmle::v1::WorkingInsights> w = HeuristicInsights(context, HeuristicMemoryOptions{});
  ASSERT_TRUE(w.ok());
  int about_lr = 0;
  for (const vmle::v1::Insight& i : w->insights()) {
    if (i.knob() != "lr") continue;
    ++about_lr;
    EXPECT_FALSE(i.clear());
    EXPECT_TRUE(absl::StrContains(i.text(), "no clear direction")) << i.text();
    EXPECT_TRUE(absl::StrContains(i.text(), "from a tuned value")) << i.text();
    EXPECT_LT(i.confidence(), 0.5);
  }
  EXPECT_EQ(about_lr, 1);
  for (const std::string& f : s->failed_attempts()) EXPECT_FALSE(absl::StartsWith(f, "lr")) << f;
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
      [](const vmle::v1::Configuration& c, uint64_t) { return 0.05 + 0.01 * testing::FloatOf(c, "dropout"); },
      {testing::ShortProfile(), {}});
  EXPECT_EQ(record.reflections.size(), 12u);
  EXPECT_LE(record.insights.insights_size(), 12);
  ASSERT_TRUE(record.summary.has_value());
  EXPECT_GT(record.summary->best_value(), 0.05);
}

}  // namespace
}  // namespace vmle::agent
