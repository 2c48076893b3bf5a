// Random search ("random") and random search that starts from the default
// configuration ("random_default"), the baselines of Bergstra & Bengio (2012).
//
// Each proposal is an independent sample of every parameter (log-uniform where the
// parameter has log_scale, uniform over integers and choices), inactive conditional
// parameters at their defaults. The generator of the n-th trial of a study is seeded
// from (study seed, n), so proposals are a function of the context. A sample that is
// invalid in combination (e.g. num_heads not dividing hidden_dim) or already taken is
// drawn again, at most kMaxDraws times. Options: none.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/agent/planner/planner.h"
#include "services/agent/planner/planning_round.h"

namespace vmle::agent {

// Draws per proposal before a planner gives up on finding a new valid configuration.
inline constexpr int kMaxDraws = 200;

// Adds one random proposal for trial number round.proposed() + 1 with the generator
// seeded from (seed, round.proposed()); false when kMaxDraws draws found nothing new.
bool AddRandomProposal(PlanningRound& round, uint64_t seed);

class RandomPlanner final : public Planner {
 public:
  // `default_first`: the first trial of a study is the space's default configuration.
  explicit RandomPlanner(bool default_first) : default_first_(default_first) {}

  std::string Name() const override { return default_first_ ? "random_default" : "random"; }
  absl::StatusOr<std::vector<PlannedTrial>> Propose(const PlanningContext& context) override;

 private:
  bool default_first_;
};

}  // namespace vmle::agent
