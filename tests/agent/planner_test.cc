// The classical planners and their factory: names and options are checked with
// errors naming the field; every proposal is a complete, valid configuration of the
// study's space, distinct from the finished and pending ones; grid enumerates exactly
// its product; random and random_default are deterministic functions of the context.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common/space/space_proto.h"
#include "services/agent/planner/planner_factory.h"
#include "services/agent/planner/planning_round.h"
#include "services/agent/planner/space_sampling.h"
#include "tests/agent/planning_loop.h"

namespace vmle::agent {
namespace {

using ::testing::HasSubstr;
using testing::SasrecContext;

vmle::v1::PlannerSpec Spec(const std::string& name, std::map<std::string, std::string> options = {}) {
  vmle::v1::PlannerSpec spec;
  spec.set_name(name);
  for (const auto& [k, v] : options) (*spec.mutable_options())[k] = v;
  return spec;
}

std::unique_ptr<Planner> Make(const std::string& name, std::map<std::string, std::string> options = {}) {
  absl::StatusOr<std::unique_ptr<Planner>> planner = MakePlanner(Spec(name, std::move(options)));
  EXPECT_TRUE(planner.ok()) << planner.status();
  return planner.ok() ? *std::move(planner) : nullptr;
}

void ExpectInvalid(const absl::Status& status, const std::string& fragment) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(fragment));
}

const space::SearchSpace& Sasrec() { return space::DefaultSearchSpace(space::Backbone::kSASRec); }

std::string Key(const vmle::v1::Configuration& config) { return ConfigKey(Sasrec(), config); }

std::vector<PlannedTrial> ProposeOk(Planner& planner, const PlanningContext& context) {
  absl::StatusOr<std::vector<PlannedTrial>> out = planner.Propose(context);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *std::move(out) : std::vector<PlannedTrial>{};
}

// The keys of the first `n` proposals of a fresh planner in a fresh context.
std::vector<std::string> FirstKeys(const std::string& name, std::map<std::string, std::string> options,
                                   uint64_t seed, int n) {
  PlanningContext context = SasrecContext(seed);
  context.max_proposals = n;
  std::vector<std::string> keys;
  for (const PlannedTrial& p : ProposeOk(*Make(name, std::move(options)), context)) keys.push_back(Key(p.config));
  return keys;
}

vmle::v1::Trial AsTrial(const PlannedTrial& planned, int number) {
  vmle::v1::Trial t;
  t.set_number(number);
  *t.mutable_config() = planned.config;
  t.set_status(vmle::v1::TRIAL_STATUS_QUEUED);
  return t;
}

TEST(SpaceSamplingTest, EncodeDecodeRoundTripsAndKeysIgnoreInactiveParameters) {
  Rng rng(3);
  for (int i = 0; i < 100; ++i) {
    const vmle::v1::Configuration c = SampleConfiguration(Sasrec(), rng);
    const std::vector<double> unit = Encode(Sasrec(), c);
    ASSERT_EQ(unit.size(), Sasrec().params.size());
    EXPECT_EQ(Key(Decode(Sasrec(), unit)), Key(c));
  }
  vmle::v1::Configuration a = DefaultConfiguration(Sasrec());
  (*a.mutable_values())["loss"].set_categorical_value("bce");
  vmle::v1::Configuration b = a;
  (*b.mutable_values())["num_negatives"].set_int_value(64);  // inactive without sampled_softmax
  EXPECT_EQ(Key(a), Key(b));
  (*a.mutable_values())["loss"].set_categorical_value("sampled_softmax");
  (*b.mutable_values())["loss"].set_categorical_value("sampled_softmax");
  EXPECT_NE(Key(a), Key(b));
}

TEST(SpaceSamplingTest, IntegersRespectBoundsStepAndScale) {
  space::ParamSpec p = *Sasrec().Find("max_len");
  p.min = 10;
  p.max = 100;
  p.step = 15;
  Rng rng(5);
  std::set<int64_t> seen;
  for (int i = 0; i < 500; ++i) {
    const int64_t v = SampleValue(p, rng).int_value();
    EXPECT_EQ((v - 10) % 15, 0) << v;
    seen.insert(v);
  }
  EXPECT_EQ(seen, (std::set<int64_t>{10, 25, 40, 55, 70, 85, 100}));
  const space::ParamSpec& hidden = *Sasrec().Find("hidden_dim");  // log scale
  EXPECT_EQ(FromUnit(hidden, 0.0).int_value(), 16);
  EXPECT_EQ(FromUnit(hidden, 1.0).int_value(), 512);
  EXPECT_EQ(FromUnit(hidden, 0.5).int_value(), 91);
  EXPECT_NEAR(ToUnit(hidden, FromUnit(hidden, 0.5)), 0.5, 0.01);
}

TEST(PlannerFactoryTest, KnowsTheClassicalPlanners) {
  for (const std::string name : {"grid", "random", "random_default", "tpe"}) {
    std::unique_ptr<Planner> p = Make(name);
    ASSERT_NE(p, nullptr) << name;
    EXPECT_EQ(p->Name(), name);
    EXPECT_TRUE(ValidatePlannerOptions(Spec(name)).ok()) << name;
  }
  const std::vector<std::string> names = PlannerNames();
  ASSERT_GE(names.size(), 4u);
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 4),
            (std::vector<std::string>{"grid", "random", "random_default", "tpe"}));
}

TEST(PlannerFactoryTest, TheDefaultIsTheHeuristicPlanner) {
  std::unique_ptr<Planner> p = Make("");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->Name(), "heuristic");
  EXPECT_TRUE(ValidatePlannerOptions(Spec("")).ok());
}

TEST(PlannerFactoryTest, UnknownNamesAreRefusedWithTheKnownOnes) {
  ExpectInvalid(MakePlanner(Spec("bayes")).status(), "planner.name: unknown planner \"bayes\"; expected one of grid, random");
}

TEST(PlannerFactoryTest, BadOptionsAreNamed) {
  ExpectInvalid(ValidatePlannerOptions(Spec("grid", {{"points", "x"}})), "planner.options.points: expected an integer");
  ExpectInvalid(ValidatePlannerOptions(Spec("grid", {{"points", "0"}})), "planner.options.points");
  ExpectInvalid(ValidatePlannerOptions(Spec("grid", {{"shuffle", "maybe"}})), "planner.options.shuffle");
  ExpectInvalid(ValidatePlannerOptions(Spec("grid", {{"params", "lr,,dropout"}})), "planner.options.params");
  ExpectInvalid(ValidatePlannerOptions(Spec("grid", {{"pionts", "3"}})),
                "planner.options.pionts: unknown option; expected one of params, points, shuffle");
  ExpectInvalid(ValidatePlannerOptions(Spec("tpe", {{"gamma", "1.5"}})), "planner.options.gamma");
  ExpectInvalid(ValidatePlannerOptions(Spec("tpe", {{"n_candidates", "0"}})), "planner.options.n_candidates");
  ExpectInvalid(ValidatePlannerOptions(Spec("random", {{"seed", "1"}})),
                "planner.options.seed: this planner takes no options");
  EXPECT_TRUE(ValidatePlannerOptions(Spec("tpe", {{"gamma", "0.15"}, {"n_startup", "4"}})).ok());
  EXPECT_TRUE(ValidatePlannerOptions(Spec("grid", {{"params", "lr, dropout"}, {"points", "5"}})).ok());
}

TEST(GridPlannerTest, EnumeratesExactlyTheProductThenNothing) {
  std::unique_ptr<Planner> grid = Make("grid", {{"params", "dropout,loss,tie_embeddings"}, {"points", "2"}});
  PlanningContext context = SasrecContext(7);
  context.max_proposals = 5;
  std::set<std::tuple<double, std::string, bool>> seen;
  for (int round = 0; round < 10; ++round) {
    const std::vector<PlannedTrial> planned = ProposeOk(*grid, context);
    if (planned.empty()) break;
    for (const PlannedTrial& p : planned) {
      const auto& v = p.config.values();
      EXPECT_TRUE(seen.insert({v.at("dropout").float_value(), v.at("loss").categorical_value(),
                               v.at("tie_embeddings").bool_value()})
                      .second);
      EXPECT_EQ(v.at("lr").float_value(), 3e-4);  // not gridded: the default
      EXPECT_THAT(p.proposal.hypothesis(), HasSubstr("of 12"));
      context.history.push_back(AsTrial(p, static_cast<int>(context.history.size()) + 1));
    }
  }
  EXPECT_EQ(seen.size(), 12u);
  std::set<double> dropouts;
  for (const auto& s : seen) dropouts.insert(std::get<0>(s));
  ASSERT_EQ(dropouts.size(), 2u);  // centres of the two halves of [0, 0.9]
  EXPECT_NEAR(*dropouts.begin(), 0.225, 1e-12);
  EXPECT_NEAR(*dropouts.rbegin(), 0.675, 1e-12);
  EXPECT_TRUE(ProposeOk(*grid, context).empty());
}

TEST(GridPlannerTest, DefaultGridIsTheSeedPapers729Points) {
  const std::vector<std::string> keys = FirstKeys("grid", {}, 3, 1000);
  EXPECT_EQ(keys.size(), 729u);
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()).size(), 729u);
}

TEST(GridPlannerTest, OrderIsShuffledBySeedOrRowMajor) {
  auto first = [](const std::string& shuffle, uint64_t seed) { return FirstKeys("grid", {{"shuffle", shuffle}}, seed, 3); };
  EXPECT_EQ(first("true", 1), first("true", 1));
  EXPECT_NE(first("true", 1), first("true", 2));
  EXPECT_EQ(first("false", 1), first("false", 2));
  PlanningContext context = SasrecContext(1);
  const auto planned = ProposeOk(*Make("grid", {{"shuffle", "false"}}), context);
  ASSERT_EQ(planned.size(), 1u);
  EXPECT_EQ(planned[0].config.values().at("hidden_dim").int_value(), 29);  // first value of each axis
  EXPECT_EQ(planned[0].config.values().at("max_len").int_value(), 41);
}

TEST(RandomPlannerTest, EveryProposalIsACompleteConfigurationOfTheSpace) {
  std::unique_ptr<Planner> random = Make("random");
  PlanningContext context = SasrecContext(11);
  context.max_proposals = 200;
  const std::vector<PlannedTrial> planned = ProposeOk(*random, context);
  ASSERT_EQ(planned.size(), 200u);
  std::set<std::string> keys, losses;
  for (const PlannedTrial& p : planned) {
    EXPECT_EQ(p.config.values().size(), Sasrec().params.size());
    absl::StatusOr<vmle::v1::Configuration> complete = space::CompleteConfiguration(Sasrec(), p.config);
    EXPECT_TRUE(complete.ok()) << complete.status();
    EXPECT_EQ(p.proposal.planner(), "random");
    EXPECT_THAT(p.proposal.hypothesis(), HasSubstr("random sample"));
    keys.insert(Key(p.config));
    const std::string loss = p.config.values().at("loss").categorical_value();
    losses.insert(loss);
    if (loss != "sampled_softmax") {
      EXPECT_EQ(p.config.values().at("num_negatives").int_value(), 500) << "inactive: at its default";
    }
  }
  EXPECT_EQ(keys.size(), 200u);
  EXPECT_EQ(losses.size(), 3u);
}

TEST(RandomPlannerTest, LogScaleParametersAreSampledLogUniformly) {
  PlanningContext context = SasrecContext(5);
  context.max_proposals = 400;
  int below_1e4 = 0;
  for (const PlannedTrial& p : ProposeOk(*Make("random"), context)) below_1e4 += p.config.values().at("lr").float_value() < 1e-4;
  // log-uniform on [1e-5, 1e-2]: a third below 1e-4 (uniform would give 0.9%).
  EXPECT_GT(below_1e4, 90);
  EXPECT_LT(below_1e4, 180);
}

TEST(RandomPlannerTest, DeterministicForASeedAndDifferentAcrossSeeds) {
  auto keys = [](uint64_t seed) { return FirstKeys("random", {}, seed, 5); };
  EXPECT_EQ(keys(42), keys(42));
  EXPECT_NE(keys(42), keys(43));
}

TEST(RandomPlannerTest, FixedParametersConstrainTheCombinations) {
  PlanningContext context = SasrecContext(9);
  std::vector<space::ParamSpec>& params = context.space.params;
  params.erase(std::remove_if(params.begin(), params.end(), [](const auto& p) { return p.name == "hidden_dim"; }),
               params.end());
  (*context.spec.mutable_fixed()->mutable_values())["hidden_dim"].set_int_value(48);
  context.max_proposals = 100;
  for (const PlannedTrial& p : ProposeOk(*Make("random"), context)) {
    EXPECT_EQ(p.config.values().count("hidden_dim"), 0u);
    EXPECT_EQ(48 % p.config.values().at("num_heads").int_value(), 0) << "num_heads must divide the fixed width";
  }
}

// A round checks a candidate once and returns it with every value in its parameter's
// type; what it admits is marked so that the agent does not validate it again.
TEST(PlanningRoundTest, CheckReturnsTypedValuesAndAddMarksThemAdmitted) {
  const PlanningContext context = SasrecContext(3);
  PlanningRound round = PlanningRound::Start(context, "test");
  vmle::v1::Configuration candidate;
  (*candidate.mutable_values())["hidden_dim"].set_float_value(64.0);
  (*candidate.mutable_values())["dropout"].set_int_value(0);
  const absl::StatusOr<vmle::v1::Configuration> checked = round.Check(candidate);
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_EQ(checked->values().at("hidden_dim").kind_case(), vmle::v1::ParamValue::kIntValue);
  EXPECT_EQ(checked->values().at("hidden_dim").int_value(), 64);
  EXPECT_EQ(checked->values().at("dropout").kind_case(), vmle::v1::ParamValue::kFloatValue);
  EXPECT_EQ(checked->values().at("lr").float_value(), 3e-4);
  round.Add(*checked, "typed");
  ASSERT_EQ(round.trials().size(), 1u);
  EXPECT_TRUE(round.trials()[0].admitted);
  // Text is never read as a number.
  (*candidate.mutable_values())["hidden_dim"].set_categorical_value("32");
  ExpectInvalid(round.Check(candidate).status(), "parameter 'hidden_dim': expected an integer, got the text \"32\"");
}

TEST(RandomDefaultPlannerTest, FirstTrialIsTheDefaultThenRandom) {
  std::unique_ptr<Planner> planner = Make("random_default");
  PlanningContext context = SasrecContext(13);
  context.max_proposals = 3;
  const std::vector<PlannedTrial> planned = ProposeOk(*planner, context);
  ASSERT_EQ(planned.size(), 3u);
  const absl::StatusOr<vmle::v1::Configuration> defaults = space::CompleteConfiguration(Sasrec(), {});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(Key(planned[0].config), Key(*defaults));
  EXPECT_THAT(planned[0].proposal.hypothesis(), HasSubstr("default"));
  EXPECT_NE(Key(planned[1].config), Key(*defaults));
  context.history.push_back(AsTrial(planned[0], 1));
  context.max_proposals = 1;
  EXPECT_NE(Key(ProposeOk(*planner, context).at(0).config), Key(*defaults));
}

TEST(PlannerTest, ParallelProposalsDifferFromEachOtherAndFromPendingOnes) {
  for (const std::string name : {"grid", "random", "random_default", "tpe"}) {
    std::unique_ptr<Planner> planner = Make(name, name == "tpe" ? std::map<std::string, std::string>{{"n_startup", "4"}}
                                                                : std::map<std::string, std::string>{});
    PlanningContext context = SasrecContext(21);
    context.max_proposals = 6;
    std::set<std::string> keys;
    for (int round = 0; round < 3; ++round) {
      const std::vector<PlannedTrial> planned = ProposeOk(*planner, context);
      EXPECT_EQ(planned.size(), 6u) << name;
      for (const PlannedTrial& p : planned) {
        EXPECT_TRUE(keys.insert(Key(p.config)).second) << name << " round " << round;
        vmle::v1::Trial t = AsTrial(p, static_cast<int>(keys.size()));
        // Half of them finish, half stay pending.
        if (keys.size() % 2 == 0) {
          t.set_status(vmle::v1::TRIAL_STATUS_SUCCEEDED);
          t.set_objective_value(0.01 * static_cast<double>(keys.size() % 7));
          context.history.push_back(t);
        } else {
          context.pending.push_back(t);
        }
      }
    }
  }
}

TEST(PlannerTest, SameContextGivesTheSameProposals) {
  for (const std::string name : {"grid", "random", "random_default", "tpe"}) {
    PlanningContext context = SasrecContext(31);
    std::unique_ptr<Planner> first = Make(name);
    testing::RunStudy(*first, context, 12, 3, [](const vmle::v1::Configuration& c, int) {
      return testing::FloatOf(c, "dropout") + testing::FloatOf(c, "lr");
    });
    // Build the context the 13th round sees, then ask two planners (one reused).
    std::unique_ptr<Planner> second = Make(name);
    const auto history = testing::RunStudy(*second, context, 12, 3, [](const vmle::v1::Configuration& c, int) {
      return testing::FloatOf(c, "dropout") + testing::FloatOf(c, "lr");
    });
    context.history = history;
    context.max_proposals = 4;
    const auto a = ProposeOk(*first, context);
    const auto b = ProposeOk(*second, context);
    const auto c = ProposeOk(*Make(name), context);
    ASSERT_EQ(a.size(), 4u) << name;
    ASSERT_EQ(b.size(), a.size());
    ASSERT_EQ(c.size(), a.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(Key(a[i].config), Key(b[i].config)) << name;
      EXPECT_EQ(Key(a[i].config), Key(c[i].config)) << name;
      EXPECT_EQ(a[i].proposal.hypothesis(), c[i].proposal.hypothesis()) << name;
    }
  }
}

}  // namespace
}  // namespace vmle::agent
