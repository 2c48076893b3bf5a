// Evidence: effects with intervals, the seed noise from replicates, paired comparisons
// and the incumbent by intensification (services/agent/evidence/evidence.h).
#include "services/agent/evidence/evidence.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace vmle::agent::evidence {
namespace {

vmle::v1::Trial TrialRun(int number, double dropout, uint64_t seed, double value) {
  vmle::v1::Trial t;
  t.set_number(number);
  t.set_seed(seed);
  t.set_status(vmle::v1::TRIAL_STATUS_SUCCEEDED);
  t.set_objective_value(value);
  (*t.mutable_config()->mutable_values())["dropout"].set_float_value(dropout);
  (*t.mutable_config()->mutable_values())["lr"].set_float_value(1e-3);
  return t;
}

TEST(EvidenceTest, EffectIntervalsWidenWithSpreadAndNarrowWithComparisons) {
  const Effect one = EffectOf({0.03}, 0.01);
  EXPECT_EQ(one.comparisons, 1);
  EXPECT_NEAR(one.mean, 0.03, 1e-12);
  EXPECT_NEAR(one.high - one.low, 2 * 1.96 * 0.01, 1e-12);
  EXPECT_TRUE(one.Clear());
  EXPECT_FALSE(EffectOf({0.015}, 0.01).Clear()) << "inside 1.96 prior sds";
  EXPECT_FALSE(EffectOf({0.05, -0.04}, 0.01).Clear()) << "contradicting comparisons";
  const Effect many = EffectOf({0.012, 0.011, 0.013, 0.012, 0.012, 0.011}, 0.01);
  EXPECT_TRUE(many.Clear()) << "a small gain repeated on six seeds";
  EXPECT_LT(many.high - many.low, one.high - one.low);
  EXPECT_EQ(EffectOf({}, 0.01).comparisons, 0);
  EXPECT_FALSE(EffectOf({}, 0.01).Clear());
  EXPECT_NEAR(TQuantile975(4), 2.776, 1e-9);
  EXPECT_NEAR(TQuantile975(1000), 1.96, 1e-9);
}

TEST(EvidenceTest, ConfigurationsGroupByValueNotByOrderAndNoiseIsPooledOverReplicates) {
  vmle::v1::Trial a = TrialRun(1, 0.2, 11, 0.050);
  vmle::v1::Trial b;
  b.set_number(2);
  b.set_seed(12);
  b.set_status(vmle::v1::TRIAL_STATUS_SUCCEEDED);
  b.set_objective_value(0.052);
  (*b.mutable_config()->mutable_values())["lr"].set_float_value(1e-3);
  (*b.mutable_config()->mutable_values())["dropout"].set_float_value(0.2);
  EXPECT_EQ(ConfigurationKey(a.config()), ConfigurationKey(b.config()));
  const StudyEvidence e = StudyEvidence::Read({a, b, TrialRun(3, 0.3, 11, 0.055)}, vmle::v1::DIRECTION_MAXIMIZE, {});
  ASSERT_EQ(e.groups().size(), 2u);
  EXPECT_EQ(e.GroupOfNumber(2), 0);
  EXPECT_EQ(e.noise().degrees_of_freedom(), 1);
  EXPECT_EQ(e.noise().configurations(), 1);
  EXPECT_NEAR(e.noise().sd(), std::sqrt(2) * 0.001, 1e-12);
  EXPECT_NEAR(e.groups()[0].Mean(), 0.051, 1e-12);
  // Decisions use the measurement shrunk toward the prior (two degrees of freedom).
  EXPECT_GT(e.RelativeSd(), std::min(e.noise().relative_sd(), Options{}.prior_relative_sd));
  EXPECT_LT(e.RelativeSd(), std::max(e.noise().relative_sd(), Options{}.prior_relative_sd));
}

TEST(EvidenceTest, ComparisonsArePairedOnSharedSeedsElseOfMeans) {
  const StudyEvidence e = StudyEvidence::Read(
      {TrialRun(1, 0.2, 11, 0.050), TrialRun(2, 0.2, 12, 0.052), TrialRun(3, 0.3, 11, 0.051), TrialRun(4, 0.4, 99, 0.060)},
      vmle::v1::DIRECTION_MAXIMIZE, {});
  bool paired = false;
  const std::vector<double> d = e.Differences(1, 0, &paired);
  EXPECT_TRUE(paired);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_NEAR(d[0], 0.02, 1e-12) << "against the run on seed 11, not the mean";
  const Effect unpaired = e.Compare(2, 0);
  EXPECT_FALSE(unpaired.paired);
  EXPECT_NEAR(unpaired.mean, 0.060 / 0.051 - 1, 1e-12);
}

TEST(EvidenceTest, AChallengerInsideTheNoiseNeedsIntensificationThenItsMeanDecides) {
  Options options;
  options.max_seeds = 2;
  std::vector<vmle::v1::Trial> trials = {TrialRun(1, 0.2, 11, 0.0500), TrialRun(2, 0.2, 12, 0.0505), TrialRun(3, 0.3, 11, 0.0508)};
  StudyEvidence e = StudyEvidence::Read(trials, vmle::v1::DIRECTION_MAXIMIZE, options);
  EXPECT_EQ(e.Incumbent(), 0);
  std::optional<ReplicateRequest> next = e.NextReplicate();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->replicate_of, 3);
  EXPECT_EQ(next->seed_from, 2) << "on the seed the incumbent ran and the challenger did not";
  trials.push_back(TrialRun(4, 0.3, 12, 0.0512));
  e = StudyEvidence::Read(trials, vmle::v1::DIRECTION_MAXIMIZE, options);
  EXPECT_EQ(e.Incumbent(), 1) << "two paired seeds (the limit), mean gain +1.5%";
  EXPECT_FALSE(e.NextReplicate().has_value());

  // A challenger that measures worse is never intensified; without intensification the mean decides at once.
  EXPECT_FALSE(StudyEvidence::Read({TrialRun(1, 0.2, 11, 0.050), TrialRun(2, 0.3, 11, 0.049)}, vmle::v1::DIRECTION_MAXIMIZE, {})
                   .NextReplicate()
                   .has_value());
  Options plain;
  plain.intensify = false;
  EXPECT_EQ(StudyEvidence::Read({TrialRun(1, 0.2, 11, 0.0500), TrialRun(2, 0.3, 11, 0.0508)}, vmle::v1::DIRECTION_MAXIMIZE, plain)
                .Incumbent(),
            1);
}

TEST(EvidenceTest, MinimisedObjectivesAndFailedRunsAreOriented) {
  vmle::v1::Trial failed = TrialRun(2, 0.3, 11, 0);
  failed.set_status(vmle::v1::TRIAL_STATUS_FAILED);
  const StudyEvidence e =
      StudyEvidence::Read({TrialRun(1, 0.2, 11, 2.0), failed, TrialRun(3, 0.4, 11, 1.5)}, vmle::v1::DIRECTION_MINIMIZE, {});
  EXPECT_EQ(e.groups()[1].Finished(), 0);
  EXPECT_EQ(e.Incumbent(), 2) << "1.5 is 25% better than 2.0 when minimising";
}

TEST(EvidenceTest, ReplicateBudgetAndFreshSeeds) {
  vmle::v1::Budget b;
  b.set_max_trials(40);
  EXPECT_EQ(ReplicateBudget(b), 5);
  b.set_max_trials(8);
  EXPECT_EQ(ReplicateBudget(b), 2);
  b.set_max_replicates(-1);
  EXPECT_EQ(ReplicateBudget(b), 0);
  EXPECT_FALSE(Intensifying(b, 0));
  b.set_max_replicates(3);
  EXPECT_TRUE(Intensifying(b, 2));
  EXPECT_FALSE(Intensifying(b, 3));
  EXPECT_EQ(FreshSeed(7, 3), FreshSeed(7, 3));
  EXPECT_NE(FreshSeed(7, 3), FreshSeed(7, 4));
}

}  // namespace
}  // namespace vmle::agent::evidence
