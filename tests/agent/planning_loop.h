// Test helpers: planning contexts over the SASRec space and a synchronous study loop
// that runs a planner against an objective function.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "services/agent/planner/planner.h"
#include "vmle/v1/common.pb.h"
#include "vmle/v1/study.pb.h"

namespace vmle::agent::testing {

// A context over the full SASRec default space, no history, one proposal wanted.
PlanningContext SasrecContext(uint64_t seed, vmle::v1::Direction direction = vmle::v1::DIRECTION_MAXIMIZE);

// A context over `space` (params of the SASRec backbone).
PlanningContext ContextFor(const vmle::v1::SearchSpace& space, uint64_t seed, vmle::v1::Direction direction);

// A SASRec space holding only float parameters `names` with the given bounds.
vmle::v1::SearchSpace FloatSpace(const std::vector<std::pair<std::string, std::pair<double, double>>>& params);

using ObjectiveFn = std::function<double(const vmle::v1::Configuration&, int trial_number)>;

// Runs `planner` for `budget` trials, `parallel` proposals per round, finishing a
// round's trials in order with `objective`. Fails the test on a planner error. Stops
// early when the planner proposes nothing.
std::vector<vmle::v1::Trial> RunStudy(Planner& planner, PlanningContext context, int budget, int parallel,
                                      const ObjectiveFn& objective);

// The best objective value of `trials` under `direction`.
double BestValue(const std::vector<vmle::v1::Trial>& trials, vmle::v1::Direction direction);

// The float value of parameter `name` (int values converted).
double FloatOf(const vmle::v1::Configuration& config, const std::string& name);

}  // namespace vmle::agent::testing
