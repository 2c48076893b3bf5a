// Early-stopping rules on hand-built curves: where the median and successive-halving
// rules must stop and must let a trial go on; grace epochs and min_trials respected;
// direction respected; invalid specs refused naming the field.
#include "services/agent/early_stop/early_stopping.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

namespace vmle::agent {
namespace {

using ::testing::HasSubstr;
using Curves = std::vector<std::vector<double>>;

vmle::v1::EarlyStoppingSpec Spec(vmle::v1::EarlyStoppingRule rule, int grace = 0, int min_trials = 0, int eta = 0) {
  vmle::v1::EarlyStoppingSpec spec;
  spec.set_rule(rule);
  spec.set_grace_epochs(grace);
  spec.set_min_trials(min_trials);
  spec.set_reduction_factor(eta);
  return spec;
}

constexpr auto kMedian = vmle::v1::EARLY_STOPPING_RULE_MEDIAN;
constexpr auto kHalving = vmle::v1::EARLY_STOPPING_RULE_SUCCESSIVE_HALVING;
constexpr auto kMax = vmle::v1::DIRECTION_MAXIMIZE;
constexpr auto kMin = vmle::v1::DIRECTION_MINIMIZE;

// Three earlier trials that rise to 0.05, 0.06, 0.07 over 10 epochs.
Curves Earlier() {
  Curves out;
  for (double top : {0.05, 0.06, 0.07}) {
    std::vector<double> c;
    for (int e = 1; e <= 10; ++e) c.push_back(top * (1 - std::exp(-e / 2.0)));
    out.push_back(c);
  }
  return out;
}

std::vector<double> Flat(double value, int epochs) { return std::vector<double>(static_cast<size_t>(epochs), value); }

TEST(EarlyStoppingTest, OffAlwaysContinues) {
  for (auto rule : {vmle::v1::EARLY_STOPPING_RULE_UNSPECIFIED, vmle::v1::EARLY_STOPPING_RULE_OFF}) {
    const EarlyStoppingDecision d = DecideEarlyStop(Spec(rule), kMax, Earlier(), Flat(0.0, 9));
    EXPECT_FALSE(d.stop);
    EXPECT_THAT(d.reason, HasSubstr("off"));
  }
}

TEST(EarlyStoppingTest, MedianStopsATrialBelowTheMedianAfterGrace) {
  const Curves others = Earlier();
  // At epoch 4 the others' best so far: 0.05*0.865, 0.06*0.865, 0.07*0.865; median 0.0519.
  const EarlyStoppingDecision stop = DecideEarlyStop(Spec(kMedian), kMax, others, Flat(0.03, 4));
  EXPECT_TRUE(stop.stop);
  EXPECT_THAT(stop.reason, HasSubstr("epoch 4: best 0.03 worse than the median"));
  EXPECT_FALSE(DecideEarlyStop(Spec(kMedian), kMax, others, Flat(0.06, 4)).stop);
  // A trial that was good earlier keeps its best so far.
  EXPECT_FALSE(DecideEarlyStop(Spec(kMedian), kMax, others, {0.01, 0.06, 0.02, 0.02}).stop);
}

TEST(EarlyStoppingTest, MedianRespectsGraceEpochs) {
  const Curves others = Earlier();
  EXPECT_FALSE(DecideEarlyStop(Spec(kMedian), kMax, others, Flat(0.0, 2)).stop);
  EXPECT_TRUE(DecideEarlyStop(Spec(kMedian), kMax, others, Flat(0.0, 3)).stop);
  EXPECT_FALSE(DecideEarlyStop(Spec(kMedian, 5), kMax, others, Flat(0.0, 4)).stop);
  EXPECT_TRUE(DecideEarlyStop(Spec(kMedian, 5), kMax, others, Flat(0.0, 5)).stop);
}

TEST(EarlyStoppingTest, MedianNeedsMinTrialsThatReachedTheEpoch) {
  Curves others = Earlier();
  others[2].resize(3);  // only two trials reached epoch 4
  const EarlyStoppingDecision d = DecideEarlyStop(Spec(kMedian), kMax, others, Flat(0.0, 4));
  EXPECT_FALSE(d.stop);
  EXPECT_THAT(d.reason, HasSubstr("2 other trials reached it, 3 needed"));
  EXPECT_TRUE(DecideEarlyStop(Spec(kMedian, 0, 2), kMax, others, Flat(0.0, 4)).stop);
}

TEST(EarlyStoppingTest, MedianRespectsTheDirection) {
  Curves losses;
  for (double bottom : {1.0, 1.2, 1.4}) losses.push_back(Flat(bottom, 6));
  EXPECT_TRUE(DecideEarlyStop(Spec(kMedian), kMin, losses, Flat(2.0, 4)).stop);
  EXPECT_FALSE(DecideEarlyStop(Spec(kMedian), kMin, losses, Flat(0.9, 4)).stop);
  EXPECT_FALSE(DecideEarlyStop(Spec(kMedian), kMax, losses, Flat(2.0, 4)).stop);
}

TEST(EarlyStoppingTest, NanCountsAsWorst) {
  EXPECT_TRUE(DecideEarlyStop(Spec(kMedian), kMax, Earlier(), Flat(std::nan(""), 4)).stop);
}

TEST(EarlyStoppingTest, HalvingKeepsOnlyTheTopThirdAtARung) {
  Curves others;
  for (double v : {0.01, 0.02, 0.03, 0.04, 0.05}) others.push_back(Flat(v, 9));
  // Rung 0 at epoch 3: six values, keep the top 2.
  EXPECT_FALSE(DecideEarlyStop(Spec(kHalving), kMax, others, Flat(0.045, 3)).stop);
  const EarlyStoppingDecision stop = DecideEarlyStop(Spec(kHalving), kMax, others, Flat(0.035, 3));
  EXPECT_TRUE(stop.stop);
  EXPECT_THAT(stop.reason, HasSubstr("rung 0 (epoch 3): best 0.035 ranks 3 of 6, top 2 stop"));
  // Rung 1 at epoch 9; epochs between rungs always continue.
  EXPECT_FALSE(DecideEarlyStop(Spec(kHalving), kMax, others, Flat(0.0, 4)).stop);
  EXPECT_TRUE(DecideEarlyStop(Spec(kHalving), kMax, others, Flat(0.03, 9)).stop);
  EXPECT_FALSE(DecideEarlyStop(Spec(kHalving), kMax, others, Flat(0.06, 9)).stop);
  // eta 2: rungs at 3, 6, 12; the top half of six values is 3.
  EXPECT_FALSE(DecideEarlyStop(Spec(kHalving, 0, 0, 2), kMax, others, Flat(0.035, 6)).stop);
  EXPECT_TRUE(DecideEarlyStop(Spec(kHalving, 0, 0, 2), kMax, others, Flat(0.025, 6)).stop);
}

TEST(EarlyStoppingTest, HalvingNeedsMinTrialsAtTheRungAndRespectsGrace) {
  Curves others;
  for (double v : {0.05, 0.06}) others.push_back(Flat(v, 9));
  EXPECT_FALSE(DecideEarlyStop(Spec(kHalving), kMax, others, Flat(0.0, 3)).stop);
  EXPECT_TRUE(DecideEarlyStop(Spec(kHalving, 0, 2), kMax, others, Flat(0.0, 3)).stop);
  // grace 2: rungs at 2, 6, 18.
  EXPECT_TRUE(DecideEarlyStop(Spec(kHalving, 2, 2), kMax, others, Flat(0.0, 2)).stop);
  EXPECT_FALSE(DecideEarlyStop(Spec(kHalving, 2, 2), kMax, others, Flat(0.0, 3)).stop);
}

TEST(EarlyStoppingTest, InvalidSpecsNameTheField) {
  auto expect = [](const vmle::v1::EarlyStoppingSpec& spec, const std::string& field) {
    const absl::Status s = ValidateEarlyStopping(spec);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_THAT(std::string(s.message()), HasSubstr("early_stopping." + field + ":"));
  };
  expect(Spec(kMedian, -1), "grace_epochs");
  expect(Spec(kMedian, 0, -2), "min_trials");
  expect(Spec(kHalving, 0, 0, 1), "reduction_factor");
  expect(Spec(kHalving, 0, 0, -3), "reduction_factor");
  expect(Spec(static_cast<vmle::v1::EarlyStoppingRule>(9)), "rule");
  EXPECT_TRUE(ValidateEarlyStopping(Spec(kHalving, 1, 1, 2)).ok());
  EXPECT_TRUE(ValidateEarlyStopping(vmle::v1::EarlyStoppingSpec()).ok());
}

}  // namespace
}  // namespace vmle::agent
