// One call of a classical planner's Propose: the context's space, the configurations
// already taken (finished, pending and proposed in this round) and the proposals
// collected so far. Grid, random and tpe share it so that every proposal is
// complete, valid and distinct in the same way.
//
// Not thread-safe; lives for one Propose call, and refers to its context's space (the
// context must outlive the round).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "services/agent/planner/planner.h"
#include "services/agent/planner/space_sampling.h"
#include "vmle/v1/common.pb.h"

namespace vmle::agent {

class PlanningRound {
 public:
  static PlanningRound Start(const PlanningContext& context, std::string planner);

  const space::SearchSpace& space() const { return *space_; }
  // Trials of the study proposed before this round (finished and pending).
  int proposed_before() const { return proposed_before_; }
  // Trials proposed so far, this round's included.
  int proposed() const { return proposed_before_ + static_cast<int>(trials_.size()); }
  // Whether the round has all the proposals the context wants.
  bool full() const { return static_cast<int>(trials_.size()) >= wanted_; }

  // `candidate` made complete over the space (defaults filled in, inactive
  // parameters reset) and checked with the study's fixed parameters by
  // vmle::space::CompleteConfiguration: INVALID_ARGUMENT naming the parameter when the
  // combination is invalid, ALREADY_EXISTS when the configuration was already taken.
  // The result names exactly the space's parameters.
  absl::StatusOr<vmle::v1::Configuration> Check(const vmle::v1::Configuration& candidate) const;
  // Check without the reason: nullopt when the candidate is not admitted.
  std::optional<vmle::v1::Configuration> Admit(const vmle::v1::Configuration& candidate) const;

  // Records a configuration that Check or Admit of this round returned as this round's
  // next proposal, marked admitted: the agent accepts it without validating it again.
  void Add(vmle::v1::Configuration config, std::string hypothesis);
  // Records a replicate: the configuration of an earlier trial (taken, so Admit would
  // refuse it; valid, since the trial was accepted), reduced to the space's
  // parameters, as this round's next proposal, marked admitted.
  void AddReplicate(const vmle::v1::Configuration& of, std::string hypothesis);

  // The proposals collected so far, in order.
  const std::vector<PlannedTrial>& trials() const { return trials_; }
  std::vector<PlannedTrial> Take() { return std::move(trials_); }

 private:
  PlanningRound() = default;

  const space::SearchSpace* space_ = nullptr;
  vmle::v1::Configuration fixed_;
  std::string planner_;
  int wanted_ = 0;
  int proposed_before_ = 0;
  absl::flat_hash_set<std::string> taken_;
  std::vector<PlannedTrial> trials_;
};

// Draws with `draw` until a configuration is admitted or `max_tries` draws failed.
template <typename Draw>
std::optional<vmle::v1::Configuration> DrawAdmitted(const PlanningRound& round, int max_tries, Draw draw) {
  for (int i = 0; i < max_tries; ++i) {
    if (auto config = round.Admit(draw()); config.has_value()) return config;
  }
  return std::nullopt;
}

}  // namespace vmle::agent
