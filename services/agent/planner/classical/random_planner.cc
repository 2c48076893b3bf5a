#include "services/agent/planner/classical/random_planner.h"

#include <utility>

namespace vmle::agent {

bool AddRandomProposal(PlanningRound& round, uint64_t seed) {
  const int index = round.proposed();
  Rng rng(DeriveSeed(seed, static_cast<uint64_t>(index)));
  std::optional<vmle::v1::Configuration> config =
      DrawAdmitted(round, kMaxDraws, [&] { return SampleConfiguration(round.space(), rng); });
  if (!config.has_value()) return false;
  round.Add(*std::move(config), "random sample " + std::to_string(index + 1));
  return true;
}

absl::StatusOr<std::vector<PlannedTrial>> RandomPlanner::Propose(const PlanningContext& context) {
  PlanningRound round = PlanningRound::Start(context, Name());
  if (default_first_ && round.proposed() == 0 && !round.full()) {
    if (auto config = round.Admit(DefaultConfiguration(round.space())); config.has_value()) {
      round.Add(*std::move(config), "baseline: the default configuration");
    }
  }
  while (!round.full() && AddRandomProposal(round, context.seed)) {
  }
  return round.Take();
}

}  // namespace vmle::agent
