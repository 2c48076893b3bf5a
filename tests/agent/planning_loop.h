// Test helpers: planning contexts over the SASRec space and a synchronous study loop
// that runs a planner against an objective function.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "common/space/search_space.h"
#include "services/agent/planner/planner.h"
#include "vmle/v1/common.pb.h"
#include "vmle/v1/study.pb.h"

namespace vmle::agent::testing {

// A context over the full SASRec default space, no history, one proposal wanted.
PlanningContext SasrecContext(uint64_t seed, vmle::v1::Direction direction = vmle::v1::DIRECTION_MAXIMIZE);

// The typed tables of `wire`, a space of SASRec parameters only: the parameters it
// names, narrowed as a study's search space is (space::EffectiveSpace).
// INVALID_ARGUMENT naming a parameter the backbone lacks or a malformed definition.
absl::StatusOr<space::SearchSpace> TypedSpace(const vmle::v1::SearchSpace& wire);

// A context over `space` (params of the SASRec backbone).
PlanningContext ContextFor(const vmle::v1::SearchSpace& space, uint64_t seed, vmle::v1::Direction direction);

// A SASRec space holding only float parameters `names` with the given bounds.
vmle::v1::SearchSpace FloatSpace(const std::vector<std::pair<std::string, std::pair<double, double>>>& params);

// The objective of a configuration run on a seed. The loops give each trial the seed
// its proposal's seed plan names (the agent's rule: Proposal.seed_from, else
// evidence::FreshSeed(study seed, number)).
using ObjectiveFn = std::function<double(const vmle::v1::Configuration&, uint64_t seed)>;

// Runs `planner` for `budget` trials, `parallel` proposals per round, finishing a
// round's trials in order with `objective`. Fails the test on a planner error. Stops
// early when the planner proposes nothing.
std::vector<vmle::v1::Trial> RunStudy(Planner& planner, PlanningContext context, int budget, int parallel,
                                      const ObjectiveFn& objective);

// What the agent adds to a study's context once the first worker reports the dataset.
struct StudyMemory {
  std::optional<vmle::v1::DatasetProfile> profile;
  // Summaries recalled for that profile (empty: transfer off or nothing stored).
  std::vector<vmle::v1::CognitionSummary> recalled;
};

// What a study run with memory produced.
struct StudyRecord {
  std::vector<vmle::v1::Trial> trials;
  std::vector<vmle::v1::Reflection> reflections;
  vmle::v1::WorkingInsights insights;
  // Distill's result at the end (nullopt when the planner does not distill).
  std::optional<vmle::v1::CognitionSummary> summary;
};

// RunStudy the way the agent runs a study with memory: `memory` enters the context
// after the first round has finished (the first worker reports the profile, then the
// agent recalls); after each finished trial the planner reflects on it, then
// consolidates the working insights; Distill at the end. A trial whose objective is
// not finite fails (failure_cause "nan", as a diverged run). Fails the test on a
// planner error.
StudyRecord RunStudyWithMemory(Planner& planner, PlanningContext context, int budget, int parallel,
                               const ObjectiveFn& objective, const StudyMemory& memory);

// The best objective value of `trials` under `direction`.
double BestValue(const std::vector<vmle::v1::Trial>& trials, vmle::v1::Direction direction);

// The float value of parameter `name` (int values converted).
double FloatOf(const vmle::v1::Configuration& config, const std::string& name);

}  // namespace vmle::agent::testing
