// The heuristic planner's protocol: baseline first, one change from the best, P
// distinct proposals, no repeats, the coverage rule, the line search, ties to the
// simpler configuration, transferred rules and configurations first, and a pure
// function of its context.
#include "services/agent/planner/heuristic/heuristic_planner.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "services/agent/planner/heuristic/heuristic_trajectory.h"
#include "services/agent/planner/space_sampling.h"
#include "tests/agent/heuristic_test_util.h"
#include "tests/agent/planning_loop.h"

namespace vmle::agent {
namespace {

using testing::Diff;
using testing::Finished;
using testing::FloatOf;
using testing::Key;
using testing::SasrecDefault;
using testing::With;

// The protocol tests are about one-change moves: no replicates, so the mean decides
// (replicates and intensification are tested below, on their own).
PlanningContext SasrecContext(uint64_t seed) {
  PlanningContext c = testing::SasrecContext(seed);
  c.spec.mutable_budget()->set_max_replicates(-1);
  return c;
}

std::vector<PlannedTrial> ProposeOk(Planner& planner, const PlanningContext& context) {
  absl::StatusOr<std::vector<PlannedTrial>> trials = planner.Propose(context);
  EXPECT_TRUE(trials.ok()) << trials.status();
  return trials.ok() ? *trials : std::vector<PlannedTrial>{};
}

HeuristicPlanner Planner(HeuristicOptions options = {}) { return HeuristicPlanner(options); }

void ExpectComplete(const vmle::v1::Proposal& p) {
  EXPECT_EQ(p.planner(), "heuristic");
  EXPECT_FALSE(p.hypothesis().empty());
  EXPECT_FALSE(p.expected_mechanism().empty());
  EXPECT_FALSE(p.risk().empty());
  EXPECT_FALSE(p.rollback().empty());
}

TEST(HeuristicPlannerTest, RoundOneIsTheDefaultConfiguration) {
  HeuristicPlanner planner = Planner();
  const std::vector<PlannedTrial> trials = ProposeOk(planner, SasrecContext(1));
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(Key(trials[0].config), Key(SasrecDefault()));
  EXPECT_EQ(trials[0].proposal.changed_dimension(), "");
  EXPECT_TRUE(absl::StartsWith(trials[0].proposal.hypothesis(), "baseline")) << trials[0].proposal.hypothesis();
  ExpectComplete(trials[0].proposal);
}

TEST(HeuristicPlannerTest, EachLaterProposalChangesOneParameterOfTheBest) {
  PlanningContext context = SasrecContext(1);
  const vmle::v1::Configuration faster = With(SasrecDefault(), "lr", 9e-4);
  context.history = {Finished(1, SasrecDefault(), 0.050), Finished(2, faster, 0.060),
                     Finished(3, With(faster, "dropout", 0.3), 0.052)};
  HeuristicPlanner planner = Planner();
  const std::vector<PlannedTrial> trials = ProposeOk(planner, context);
  ASSERT_EQ(trials.size(), 1u);
  const std::vector<std::string> changed = Diff(faster, trials[0].config);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(trials[0].proposal.changed_dimension(), changed[0]);
  EXPECT_TRUE(absl::StrContains(trials[0].proposal.rollback(), "trial 2")) << trials[0].proposal.rollback();
  ExpectComplete(trials[0].proposal);
}

TEST(HeuristicPlannerTest, ParallelRoundsHoldDistinctSingleChanges) {
  PlanningContext context = SasrecContext(1);
  context.max_proposals = 4;
  HeuristicPlanner planner = Planner();
  const std::vector<PlannedTrial> first = ProposeOk(planner, context);
  ASSERT_EQ(first.size(), 4u);
  EXPECT_EQ(Key(first[0].config), Key(SasrecDefault()));
  // The baseline finished; the first round's three changes are still running.
  context.history = {Finished(1, SasrecDefault(), 0.05)};
  for (size_t i = 1; i < first.size(); ++i) {
    vmle::v1::Trial running;
    running.set_number(static_cast<int>(i) + 1);
    *running.mutable_config() = first[i].config;
    *running.mutable_proposal() = first[i].proposal;
    running.set_status(vmle::v1::TRIAL_STATUS_RUNNING);
    context.pending.push_back(running);
  }
  const std::vector<PlannedTrial> second = ProposeOk(planner, context);
  ASSERT_EQ(second.size(), 4u);
  std::set<std::string> keys = {Key(SasrecDefault())};
  for (size_t i = 1; i < first.size(); ++i) {
    EXPECT_EQ(Diff(SasrecDefault(), first[i].config), std::vector<std::string>{first[i].proposal.changed_dimension()});
    EXPECT_TRUE(keys.insert(Key(first[i].config)).second) << "repeated proposal";
  }
  for (const PlannedTrial& t : second) {
    EXPECT_EQ(Diff(SasrecDefault(), t.config), std::vector<std::string>{t.proposal.changed_dimension()});
    EXPECT_TRUE(keys.insert(Key(t.config)).second) << "repeated proposal";
  }
}

TEST(HeuristicPlannerTest, NeverProposesAConfigurationTwice) {
  HeuristicPlanner planner = Planner();
  const std::vector<vmle::v1::Trial> trials =
      testing::RunStudy(planner, SasrecContext(3), 90, 3, [](const auto&, int n) { return 0.05 + 1e-6 * (n % 7); });
  ASSERT_EQ(trials.size(), 90u);
  std::set<std::string> keys;
  for (const vmle::v1::Trial& t : trials) EXPECT_TRUE(keys.insert(Key(t.config())).second) << t.number();
}

// Four trials in a row on the learning rate only.
PlanningContext StuckOnTheLearningRate() {
  PlanningContext context = SasrecContext(1);
  const vmle::v1::Configuration base = SasrecDefault();
  context.history = {Finished(1, base, 0.050), Finished(2, With(base, "lr", 9e-4), 0.055),
                     Finished(3, With(base, "lr", 2.7e-3), 0.060), Finished(4, With(base, "lr", 8.1e-3), 0.058),
                     Finished(5, With(base, "lr", 1.6e-3), 0.059)};
  return context;
}

TEST(HeuristicPlannerTest, CoverageRuleForcesAnUntriedDimension) {
  HeuristicPlanner planner = Planner();
  const std::vector<PlannedTrial> forced = ProposeOk(planner, StuckOnTheLearningRate());
  ASSERT_EQ(forced.size(), 1u);
  EXPECT_NE(forced[0].proposal.changed_dimension(), "lr");
  EXPECT_TRUE(absl::StartsWith(forced[0].proposal.hypothesis(), "coverage rule")) << forced[0].proposal.hypothesis();

  HeuristicOptions wide;
  wide.coverage_window = 6;
  HeuristicPlanner patient = Planner(wide);
  const std::vector<PlannedTrial> free = ProposeOk(patient, StuckOnTheLearningRate());
  ASSERT_EQ(free.size(), 1u);
  EXPECT_FALSE(absl::StartsWith(free[0].proposal.hypothesis(), "coverage rule")) << free[0].proposal.hypothesis();
}

TEST(HeuristicPlannerTest, LineSearchContinuesADirectionThatHelped) {
  PlanningContext context = SasrecContext(1);
  const vmle::v1::Configuration base = SasrecDefault();
  context.history = {Finished(1, base, 0.050), Finished(2, With(base, "dropout", 0.3), 0.056)};
  HeuristicPlanner planner = Planner();
  std::vector<PlannedTrial> next = ProposeOk(planner, context);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(next[0].proposal.hypothesis(), "line search")) << next[0].proposal.hypothesis();
  EXPECT_NEAR(FloatOf(next[0].config, "dropout"), 0.4, 1e-9);
  EXPECT_EQ(Diff(With(base, "dropout", 0.3), next[0].config), std::vector<std::string>{"dropout"});

  // Two gains in a row: a doubled step.
  context.history.push_back(Finished(3, With(base, "dropout", 0.4), 0.062));
  next = ProposeOk(planner, context);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_NEAR(FloatOf(next[0].config, "dropout"), 0.6, 1e-9);
  EXPECT_TRUE(absl::StrContains(next[0].proposal.expected_mechanism(), "doubled"));
}

TEST(HeuristicPlannerTest, ABestTrialCutOffAtItsLastEpochGetsTwiceTheEpochs) {
  PlanningContext context = SasrecContext(1);
  const vmle::v1::Configuration base = SasrecDefault();
  vmle::v1::Trial cut_off = Finished(1, base, 0.050);
  cut_off.set_best_epoch(static_cast<int>(FloatOf(base, "max_epochs")));
  context.history = {cut_off};
  HeuristicPlanner planner = Planner();
  std::vector<PlannedTrial> next = ProposeOk(planner, context);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(Diff(base, next[0].config), std::vector<std::string>{"max_epochs"});
  EXPECT_EQ(FloatOf(next[0].config, "max_epochs"), 2 * FloatOf(base, "max_epochs"));
  EXPECT_TRUE(absl::StrContains(next[0].proposal.expected_mechanism(), "still improving at its last epoch"))
      << next[0].proposal.expected_mechanism();

  // Converged before the last epoch: no such move.
  context.history[0].set_best_epoch(static_cast<int>(FloatOf(base, "max_epochs")) - 3);
  next = ProposeOk(planner, context);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_NE(Diff(base, next[0].config), std::vector<std::string>{"max_epochs"});
}

TEST(HeuristicPlannerTest, TiesGoToTheSimplerConfiguration) {
  PlanningContext context = SasrecContext(1);
  const vmle::v1::Configuration wide = With(SasrecDefault(), "hidden_dim", int64_t{256});
  context.history = {Finished(1, SasrecDefault(), 0.0500), Finished(2, wide, 0.0502)};
  HeuristicPlanner planner = Planner();
  const std::vector<PlannedTrial> tie = ProposeOk(planner, context);
  ASSERT_EQ(tie.size(), 1u);
  EXPECT_EQ(Diff(SasrecDefault(), tie[0].config).size(), 1u);
  EXPECT_TRUE(absl::StrContains(tie[0].proposal.rollback(), "trial 1")) << tie[0].proposal.rollback();

  HeuristicOptions strict;
  strict.tie_epsilon = 0;
  HeuristicPlanner exact = Planner(strict);
  const std::vector<PlannedTrial> no_tie = ProposeOk(exact, context);
  ASSERT_EQ(no_tie.size(), 1u);
  EXPECT_EQ(Diff(wide, no_tie[0].config).size(), 1u);
  EXPECT_TRUE(absl::StrContains(no_tie[0].proposal.rollback(), "trial 2")) << no_tie[0].proposal.rollback();
}

vmle::v1::CognitionRule Rule(const std::string& knob, const std::string& direction, const std::string& condition,
                             double effect, double confidence) {
  vmle::v1::CognitionRule r;
  r.set_knob(knob);
  r.set_direction(direction);
  r.set_condition(condition);
  r.set_effect(effect);
  r.set_confidence(confidence);
  return r;
}

TEST(HeuristicPlannerTest, TransferredRulesWhoseConditionHoldsComeFirst) {
  PlanningContext context = SasrecContext(1);
  context.history = {Finished(1, SasrecDefault(), 0.05)};
  context.profile = testing::ShortProfile();
  vmle::v1::CognitionSummary summary;
  summary.set_id("beauty");
  *summary.add_rules() = Rule("feed_forward", "swiglu", "mean_length >= 10", 0.5, 0.9);
  *summary.add_rules() = Rule("num_heads", "up", "mean_length < 10", 0.01, 0.6);
  *summary.add_rules() = Rule("pooling", "last_k_mean", "mean_length < 10", 0.03, 0.7);
  context.recalled = {summary};
  context.max_proposals = 3;
  HeuristicPlanner planner = Planner();
  const std::vector<PlannedTrial> trials = ProposeOk(planner, context);
  ASSERT_EQ(trials.size(), 3u);
  EXPECT_EQ(trials[0].proposal.changed_dimension(), "pooling");
  EXPECT_EQ(trials[1].proposal.changed_dimension(), "num_heads");
  EXPECT_EQ(trials[2].proposal.changed_dimension(), "lr") << "then the first prior";
  EXPECT_TRUE(absl::StartsWith(trials[0].proposal.hypothesis(), "transferred rule"));
  EXPECT_TRUE(absl::StrContains(trials[0].proposal.hypothesis(), "beauty"));
}

TEST(HeuristicPlannerTest, ARecalledBestConfigurationIsTriedOnceAfterTheBaseline) {
  PlanningContext context = SasrecContext(1);
  context.history = {Finished(1, SasrecDefault(), 0.05)};
  vmle::v1::CognitionSummary summary;
  summary.set_id("beauty");
  summary.set_backbone(vmle::v1::BACKBONE_SASREC);
  *summary.mutable_best_config() = With(With(SasrecDefault(), "lr", 1e-3), "dropout", 0.35);
  context.recalled = {summary};
  HeuristicPlanner planner = Planner();
  std::vector<PlannedTrial> trials = ProposeOk(planner, context);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].proposal.changed_dimension(), "transfer");
  EXPECT_EQ(Key(trials[0].config), Key(summary.best_config()));
  ExpectComplete(trials[0].proposal);

  context.history.push_back(Finished(2, trials[0].config, 0.06));
  trials = ProposeOk(planner, context);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_NE(trials[0].proposal.changed_dimension(), "transfer");
  EXPECT_EQ(Diff(summary.best_config(), trials[0].config).size(), 1u);
}

TEST(HeuristicPlannerTest, ProposalsAreAFunctionOfTheContext) {
  PlanningContext context = StuckOnTheLearningRate();
  context.max_proposals = 3;
  HeuristicPlanner a = Planner();
  HeuristicPlanner b = Planner();
  const std::vector<PlannedTrial> first = ProposeOk(a, context);
  ProposeOk(a, SasrecContext(9));
  const std::vector<PlannedTrial> again = ProposeOk(a, context);
  const std::vector<PlannedTrial> other = ProposeOk(b, context);
  ASSERT_EQ(first.size(), 3u);
  for (const auto* run : {&again, &other}) {
    ASSERT_EQ(run->size(), first.size());
    for (size_t i = 0; i < first.size(); ++i) {
      EXPECT_EQ(Key((*run)[i].config), Key(first[i].config));
      EXPECT_EQ((*run)[i].proposal.SerializeAsString(), first[i].proposal.SerializeAsString());
    }
  }
}

TEST(HeuristicPlannerTest, OptionsAreValidatedByName) {
  vmle::v1::PlannerSpec spec;
  spec.set_name("heuristic");
  (*spec.mutable_options())["tie_epsilon"] = "0.9";
  absl::StatusOr<HeuristicOptions> bad = ParseHeuristicOptions(spec);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "planner.options.tie_epsilon")) << bad.status();
  spec.clear_options();
  (*spec.mutable_options())["coverage"] = "3";
  EXPECT_TRUE(absl::StrContains(ParseHeuristicOptions(spec).status().message(), "planner.options.coverage"));
  spec.clear_options();
  (*spec.mutable_options())["coverage_window"] = "6";
  (*spec.mutable_options())["transfer_best"] = "false";
  absl::StatusOr<HeuristicOptions> good = ParseHeuristicOptions(spec);
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(good->coverage_window, 6);
  EXPECT_FALSE(good->transfer_best);
}

// Seed plans, replicates and intensification (heuristic_planner.h protocol).

vmle::v1::Trial Seeded(vmle::v1::Trial t, uint64_t seed, int derived_from = 0, int replicate_of = 0,
                       int seed_from = 0) {
  t.set_seed(seed);
  t.mutable_proposal()->set_derived_from(derived_from);
  t.mutable_proposal()->set_replicate_of(replicate_of);
  t.mutable_proposal()->set_seed_from(seed_from);
  return t;
}

PlanningContext Replicating(int max_trials) {
  PlanningContext c = testing::SasrecContext(1);
  c.spec.mutable_budget()->set_max_trials(max_trials);
  return c;
}

TEST(HeuristicPlannerTest, TheBaselineIsReplicatedOnANewSeedOnceItFinished) {
  PlanningContext context = Replicating(16);
  context.history = {Seeded(Finished(1, SasrecDefault(), 0.050), 11)};
  context.max_proposals = 2;
  HeuristicPlanner planner = Planner();
  const std::vector<PlannedTrial> trials = ProposeOk(planner, context);
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(Key(trials[0].config), Key(SasrecDefault()));
  EXPECT_EQ(trials[0].proposal.replicate_of(), 1);
  EXPECT_EQ(trials[0].proposal.seed_from(), 0) << "a replicate measures the noise on a new seed";
  EXPECT_TRUE(absl::StartsWith(trials[0].proposal.hypothesis(), "replicate of trial 1")) << trials[0].proposal.hypothesis();
  ExpectComplete(trials[0].proposal);
  // The other slot is a change of the baseline, paired with it: derived from trial 1, on its seed.
  EXPECT_EQ(Diff(SasrecDefault(), trials[1].config).size(), 1u);
  EXPECT_EQ(trials[1].proposal.derived_from(), 1);
  EXPECT_EQ(trials[1].proposal.seed_from(), 1);
  EXPECT_EQ(trials[1].proposal.replicate_of(), 0);
}

// Trial 1 is the baseline the first replicate measures the noise with. When a change
// of it finishes first, the change is not replicated in its place: the replicate waits
// for trial 1.
TEST(HeuristicPlannerTest, TheBaselinesReplicateWaitsForTrialOneEvenWhenAnotherFinishedFirst) {
  PlanningContext context = Replicating(16);
  context.history = {Seeded(Finished(2, With(SasrecDefault(), "lr", 9e-4), 0.055), 11, 1, 0, 1)};
  vmle::v1::Trial baseline = Seeded(Finished(1, SasrecDefault(), 0.0), 11);
  baseline.set_status(vmle::v1::TRIAL_STATUS_RUNNING);
  baseline.clear_validation();
  baseline.clear_objective_value();
  context.pending = {baseline};
  context.max_proposals = 1;
  HeuristicPlanner planner = Planner();
  std::vector<PlannedTrial> trials = ProposeOk(planner, context);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_NE(trials[0].proposal.replicate_of(), 2) << trials[0].proposal.hypothesis();

  // Once trial 1 has finished, it is the one replicated.
  context.history.insert(context.history.begin(), Seeded(Finished(1, SasrecDefault(), 0.050), 11));
  context.pending.clear();
  trials = ProposeOk(planner, context);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].proposal.replicate_of(), 1) << trials[0].proposal.hypothesis();
}

TEST(HeuristicPlannerTest, AOneChangeProposalCarriesItsParentsSeedPlanAndNamesItsMean) {
  PlanningContext context = Replicating(16);
  const vmle::v1::Configuration faster = With(SasrecDefault(), "lr", 9e-4);
  context.history = {Seeded(Finished(1, SasrecDefault(), 0.050), 11), Seeded(Finished(2, SasrecDefault(), 0.051), 12, 1, 1),
                     Seeded(Finished(3, faster, 0.060), 11, 1, 0, 1)};
  HeuristicPlanner planner = Planner();
  const std::vector<PlannedTrial> trials = ProposeOk(planner, context);
  ASSERT_EQ(trials.size(), 1u);
  // +20% on the same seed is clear of the noise: trial 3 is the best, and the change is paired with it.
  EXPECT_EQ(Diff(faster, trials[0].config).size(), 1u);
  EXPECT_EQ(trials[0].proposal.derived_from(), 3);
  EXPECT_EQ(trials[0].proposal.seed_from(), 3);
  EXPECT_TRUE(absl::StrContains(trials[0].proposal.hypothesis(), "trial 3 (0.06, 1 seed)"))
      << trials[0].proposal.hypothesis();
}

TEST(HeuristicPlannerTest, AChallengerWithinTheNoiseIsReplicatedBeforeItBecomesTheBest) {
  PlanningContext context = Replicating(16);
  const vmle::v1::Configuration dropout = With(SasrecDefault(), "dropout", 0.3);
  // Baseline on seeds 11 and 12 (noise about 1%); the challenger +1.6% on seed 11 only.
  context.history = {Seeded(Finished(1, SasrecDefault(), 0.0500), 11),
                     Seeded(Finished(2, SasrecDefault(), 0.0507), 12, 1, 1),
                     Seeded(Finished(3, dropout, 0.0508), 11, 1, 0, 1)};
  heuristic::Trajectory t =
      heuristic::Trajectory::Read(context, 0.005, heuristic::StudyEvidenceOptions(context, 0.02, 3));
  EXPECT_EQ(t.Best(), 0) << "a gain inside the noise does not replace the best";
  HeuristicPlanner planner = Planner();
  std::vector<PlannedTrial> trials = ProposeOk(planner, context);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(Key(trials[0].config), Key(dropout));
  EXPECT_EQ(trials[0].proposal.replicate_of(), 3);
  EXPECT_EQ(trials[0].proposal.seed_from(), 2) << "the challenger on the seed the best ran and it did not";

  // Confirmed on that seed and a third (the limit): its mean then decides, and it is the best.
  context.history.push_back(Seeded(Finished(4, dropout, 0.0515), 12, 3, 3, 2));
  context.history.push_back(Seeded(Finished(5, SasrecDefault(), 0.0502), 13, 1, 1));
  context.history.push_back(Seeded(Finished(6, dropout, 0.0512), 13, 3, 3, 5));
  t = heuristic::Trajectory::Read(context, 0.005, heuristic::StudyEvidenceOptions(context, 0.02, 3));
  EXPECT_EQ(t.Best(), 2) << "trial 3's configuration, paired on 3 seeds, mean +1.6%";
  trials = ProposeOk(planner, context);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].proposal.derived_from(), 3);
  EXPECT_TRUE(absl::StrContains(trials[0].proposal.hypothesis(), "over 3 seeds")) << trials[0].proposal.hypothesis();
}

TEST(HeuristicPlannerTest, NoReplicatesBeyondTheBudgetAndThenTheMeanDecides) {
  PlanningContext context = Replicating(16);
  context.spec.mutable_budget()->set_max_replicates(1);
  const vmle::v1::Configuration dropout = With(SasrecDefault(), "dropout", 0.3);
  context.history = {Seeded(Finished(1, SasrecDefault(), 0.0500), 11),
                     Seeded(Finished(2, SasrecDefault(), 0.0507), 12, 1, 1),
                     Seeded(Finished(3, dropout, 0.0508), 11, 1, 0, 1)};
  HeuristicPlanner planner = Planner();
  const std::vector<PlannedTrial> trials = ProposeOk(planner, context);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].proposal.replicate_of(), 0) << "the one replicate was spent on the baseline";
  EXPECT_EQ(trials[0].proposal.derived_from(), 3) << "with no replicate left, the better mean is the best";
}

}  // namespace
}  // namespace vmle::agent
