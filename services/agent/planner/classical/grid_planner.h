// Grid search ("grid"): the full product of a few values of a few parameters, the
// other parameters at their defaults — the 729-trial baseline of the seed paper with
// the default options (3 values of 6 parameters).
//
// Options:
//  * params: comma list of the parameters to grid (default hidden_dim, num_blocks,
//    dropout, lr, batch_size, max_len), intersected with the study's space.
//  * points: values per numeric parameter (default 3): the centres of `points` equal
//    slices of the range, on a log scale where the parameter has log_scale, so no
//    value sits on an extreme bound; integers rounded (duplicates dropped).
//    Categorical and bool parameters take all their choices.
//  * shuffle: visit the grid in an order shuffled by the study seed (default true),
//    else in row-major order with the last parameter fastest.
//
// Each Propose returns the next grid points in that order that are neither finished
// nor pending, skipping points that are invalid in combination; once every point was
// proposed it returns nothing (the study ends with "search space exhausted").
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/agent/planner/planner.h"

namespace vmle::agent {

struct GridOptions {
  std::vector<std::string> params = {"hidden_dim", "num_blocks", "dropout", "lr", "batch_size", "max_len"};
  int points = 3;
  bool shuffle = true;
};

// INVALID_ARGUMENT naming planner.options.<key> for a malformed or unknown option.
absl::StatusOr<GridOptions> ParseGridOptions(const vmle::v1::PlannerSpec& spec);

class GridPlanner final : public Planner {
 public:
  explicit GridPlanner(GridOptions options) : options_(std::move(options)) {}

  std::string Name() const override { return "grid"; }
  absl::StatusOr<std::vector<PlannedTrial>> Propose(const PlanningContext& context) override;

 private:
  GridOptions options_;
};

}  // namespace vmle::agent
