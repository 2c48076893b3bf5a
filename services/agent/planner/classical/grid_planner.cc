#include "services/agent/planner/classical/grid_planner.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "common/space/space_proto.h"
#include "services/agent/planner/planner_options.h"
#include "services/agent/planner/planning_round.h"

namespace vmle::agent {
namespace {

// Larger grids are refused: enumerating them every round would stall the agent.
constexpr int64_t kMaxGridPoints = 1'000'000;

struct Axis {
  std::string name;
  std::vector<vmle::v1::ParamValue> values;
};

std::vector<vmle::v1::ParamValue> AxisValues(const space::ParamSpec& p, int points) {
  std::vector<vmle::v1::ParamValue> values;
  if (!IsNumeric(p)) {
    for (int i = 0; i < NumChoices(p); ++i) values.push_back(FromChoice(p, i));
    return values;
  }
  std::vector<std::string> seen;
  for (int i = 0; i < points; ++i) {
    vmle::v1::ParamValue v = FromUnit(p, (i + 0.5) / points);
    const std::string text = space::ValueText(v);
    if (std::find(seen.begin(), seen.end(), text) != seen.end()) continue;
    seen.push_back(text);
    values.push_back(std::move(v));
  }
  return values;
}

std::vector<Axis> Axes(const space::SearchSpace& space, const GridOptions& options) {
  std::vector<Axis> axes;
  for (const std::string& name : options.params) {
    if (const space::ParamSpec* p = space.Find(name); p != nullptr) {
      axes.push_back({name, AxisValues(*p, options.points)});
    }
  }
  return axes;
}

// The grid point with row-major index `index` (last axis fastest), other parameters
// at their defaults.
vmle::v1::Configuration GridPoint(const space::SearchSpace& space, const std::vector<Axis>& axes,
                                  int64_t index) {
  vmle::v1::Configuration config = DefaultConfiguration(space);
  for (auto axis = axes.rbegin(); axis != axes.rend(); ++axis) {
    const int64_t n = static_cast<int64_t>(axis->values.size());
    (*config.mutable_values())[axis->name] = axis->values[static_cast<size_t>(index % n)];
    index /= n;
  }
  return config;
}

std::vector<int64_t> VisitOrder(int64_t size, bool shuffle, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(size));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (!shuffle) return order;
  Rng rng(DeriveSeed(seed, 0x67726964));  // "grid"
  for (int64_t i = size - 1; i > 0; --i) std::swap(order[i], order[rng.Below(i + 1)]);
  return order;
}

}  // namespace

absl::StatusOr<GridOptions> ParseGridOptions(const vmle::v1::PlannerSpec& spec) {
  GridOptions options;
  OptionReader reader(spec);
  if (absl::Status s = reader.List("params", &options.params); !s.ok()) return s;
  if (absl::Status s = reader.Int("points", 1, 100, &options.points); !s.ok()) return s;
  if (absl::Status s = reader.Bool("shuffle", &options.shuffle); !s.ok()) return s;
  if (absl::Status s = reader.NoOthers(); !s.ok()) return s;
  return options;
}

absl::StatusOr<std::vector<PlannedTrial>> GridPlanner::Propose(const PlanningContext& context) {
  PlanningRound round = PlanningRound::Start(context, Name());
  const std::vector<Axis> axes = Axes(round.space(), options_);
  int64_t size = 1;
  for (const Axis& axis : axes) {
    size *= static_cast<int64_t>(axis.values.size());
    if (size > kMaxGridPoints) {
      return absl::InvalidArgumentError("planner.options.params: the grid has more than " +
                                        std::to_string(kMaxGridPoints) + " points; grid fewer parameters or points");
    }
  }
  const std::vector<int64_t> order = VisitOrder(size, options_.shuffle, context.seed);
  for (size_t k = 0; k < order.size() && !round.full(); ++k) {
    std::optional<vmle::v1::Configuration> config = round.Admit(GridPoint(round.space(), axes, order[k]));
    if (!config.has_value()) continue;
    round.Add(*std::move(config), "grid point " + std::to_string(k + 1) + " of " + std::to_string(size));
  }
  return round.Take();
}

}  // namespace vmle::agent
