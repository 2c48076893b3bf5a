// Acceptance criteria of the heuristic planner on the simulated SASRec objective:
//  * it reaches 95% of the optimum in fewer trials than random search and TPE,
//    averaged over fixed seeds;
//  * with a cognition summary distilled on one simulated dataset, a study on a
//    related dataset needs at most half the trials it needs without it.
// "Reaching" is judged on the noise-free value of the configurations tried; the
// planners see the noisy validation values only, as in a real study. A run that
// does not reach the target within the budget counts as budget + 1 trials.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "services/agent/planner/heuristic_planner.h"
#include "services/agent/planner/random_planner.h"
#include "services/agent/planner/tpe_planner.h"
#include "services/agent/sim/simulated_objective.h"
#include "tests/agent/planning_loop.h"

namespace vmle::agent {
namespace {

using sim::SimulatedDataset;
using sim::SimulatedObjective;
using testing::StudyMemory;
using testing::StudyRecord;

constexpr int kBudget = 60;
constexpr double kTarget = 0.95;
const std::vector<uint64_t> kSeeds = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

// The profile a worker reports for a simulated dataset.
vmle::v1::DatasetProfile ProfileOf(const SimulatedDataset& d) {
  vmle::v1::DatasetProfile p;
  p.set_num_users(d.num_users);
  p.set_num_items(d.num_items);
  p.set_num_interactions(static_cast<int64_t>(std::llround(d.mean_length * static_cast<double>(d.num_users))));
  p.set_mean_length(d.mean_length);
  p.set_median_length(std::floor(d.mean_length * 0.8));
  return p;
}

// A noisy validation NDCG@10 per trial, as a worker reports it; diverged runs fail.
testing::ObjectiveFn Validation(const SimulatedObjective& objective) {
  return [&objective](const vmle::v1::Configuration& config, int number) {
    const sim::SimulatedTrial run = objective.Run(config, static_cast<uint64_t>(number));
    return run.diverged ? std::nan("") : run.validation.ndcg_at_10();
  };
}

// The first trial whose configuration reaches kTarget of the optimum; kBudget + 1 when none does.
int TrialsToTarget(const SimulatedObjective& objective, const std::vector<vmle::v1::Trial>& trials) {
  for (const vmle::v1::Trial& t : trials) {
    if (objective.ExpectedValue(t.config()) >= kTarget * objective.Optimum()) return t.number();
  }
  return kBudget + 1;
}

StudyRecord Study(Planner& planner, const SimulatedObjective& objective, uint64_t seed, const StudyMemory& memory) {
  return testing::RunStudyWithMemory(planner, testing::SasrecContext(seed), kBudget, 1, Validation(objective), memory);
}

double Mean(const std::vector<int>& v) {
  double sum = 0;
  for (int x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

double Median(std::vector<int> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

std::string Join(const std::vector<int>& v) {
  std::string out;
  for (int x : v) out += (out.empty() ? "" : " ") + std::to_string(x);
  return out;
}

TEST(HeuristicAcceptanceTest, ReachesNinetyFivePercentInFewerTrialsThanRandomAndTpe) {
  std::vector<int> heuristic, random, tpe;
  for (uint64_t seed : kSeeds) {
    const SimulatedObjective objective(sim::BeautyLike(seed));
    const StudyMemory memory{ProfileOf(objective.dataset()), {}};
    HeuristicPlanner h(HeuristicOptions{});
    RandomPlanner r(false);
    TpePlanner t(TpeOptions{});
    heuristic.push_back(TrialsToTarget(objective, Study(h, objective, seed, memory).trials));
    random.push_back(TrialsToTarget(objective, Study(r, objective, seed, memory).trials));
    tpe.push_back(TrialsToTarget(objective, Study(t, objective, seed, memory).trials));
  }
  std::printf("trials to 95%% of the optimum on beauty-sim (budget %d, censored = %d), %zu seeds:\n", kBudget,
              kBudget + 1, kSeeds.size());
  std::printf("  heuristic %5.1f  [%s]\n  random    %5.1f  [%s]\n  tpe       %5.1f  [%s]\n", Mean(heuristic),
              Join(heuristic).c_str(), Mean(random), Join(random).c_str(), Mean(tpe), Join(tpe).c_str());
  EXPECT_LT(Mean(heuristic), Mean(random));
  EXPECT_LT(Mean(heuristic), Mean(tpe));
}

TEST(HeuristicAcceptanceTest, ASummaryFromOneDatasetHalvesTheTrialsOnARelatedOne) {
  std::vector<int> without, with;
  for (uint64_t seed : kSeeds) {
    const SimulatedObjective source(sim::BeautyLike(seed));
    HeuristicPlanner first(HeuristicOptions{});
    const StudyRecord learned = Study(first, source, seed, {ProfileOf(source.dataset()), {}});
    ASSERT_TRUE(learned.summary.has_value());
    vmle::v1::CognitionSummary summary = *learned.summary;
    summary.set_id("beauty-sim-" + std::to_string(seed));
    *summary.mutable_dataset_profile() = ProfileOf(source.dataset());

    const SimulatedObjective target(sim::Related(sim::BeautyLike(), "sports-related-sim", 100 + seed));
    const vmle::v1::DatasetProfile profile = ProfileOf(target.dataset());
    HeuristicPlanner cold(HeuristicOptions{});
    HeuristicPlanner warm(HeuristicOptions{});
    without.push_back(TrialsToTarget(target, Study(cold, target, seed, {profile, {}}).trials));
    with.push_back(TrialsToTarget(target, Study(warm, target, seed, {profile, {summary}}).trials));
  }
  std::printf("trials to 95%% of the optimum on related datasets (budget %d, censored = %d), %zu seeds:\n", kBudget,
              kBudget + 1, kSeeds.size());
  std::printf("  without summary mean %5.1f median %5.1f  [%s]\n  with summary    mean %5.1f median %5.1f  [%s]\n",
              Mean(without), Median(without), Join(without).c_str(), Mean(with), Median(with), Join(with).c_str());
  // At most half the trials on average over the seeds, and for the typical seed.
  EXPECT_LE(Mean(with), 0.5 * Mean(without));
  EXPECT_LE(Median(with), 0.5 * Median(without));
}

}  // namespace
}  // namespace vmle::agent
