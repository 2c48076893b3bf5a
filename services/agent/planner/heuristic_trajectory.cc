#include "services/agent/planner/heuristic_trajectory.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "services/agent/planner/space_sampling.h"
#include "services/trainer/space/space_proto.h"

namespace vmle::agent::heuristic {
namespace {

constexpr double kNoScore = -std::numeric_limits<double>::infinity();

double ScoreOf(const vmle::v1::Trial& t, vmle::v1::Direction direction) {
  if (t.status() == vmle::v1::TRIAL_STATUS_FAILED || !std::isfinite(t.objective_value())) return kNoScore;
  return direction == vmle::v1::DIRECTION_MINIMIZE ? -t.objective_value() : t.objective_value();
}

double RelativeChange(double to, double from) {
  if (!std::isfinite(to)) return -1.0;
  if (!std::isfinite(from)) return 0.0;
  return (to - from) / std::max(std::abs(from), 1e-12);
}

// Per parameter, the indices of the parameter and of those conditional on it: the
// group that changes together when the parameter changes.
std::vector<std::vector<size_t>> Groups(const trainer::SearchSpace& space) {
  std::vector<std::vector<size_t>> groups(space.params.size());
  for (size_t p = 0; p < space.params.size(); ++p) {
    groups[p].push_back(p);
    for (size_t q = 0; q < space.params.size(); ++q) {
      if (space.params[q].condition_param == space.params[p].name) groups[p].push_back(q);
    }
  }
  return groups;
}

}  // namespace

double NumberOf(const vmle::v1::ParamValue& value) {
  switch (value.kind_case()) {
    case vmle::v1::ParamValue::kIntValue: return static_cast<double>(value.int_value());
    case vmle::v1::ParamValue::kFloatValue: return value.float_value();
    case vmle::v1::ParamValue::kCategoricalValue: return std::strtod(value.categorical_value().c_str(), nullptr);
    default: break;
  }
  return 0.0;
}

std::string DirectionOf(const trainer::ParamSpec& param, const vmle::v1::ParamValue& from,
                        const vmle::v1::ParamValue& to) {
  if (IsNumeric(param)) return NumberOf(to) >= NumberOf(from) ? "up" : "down";
  return space::ValueText(to);
}

absl::StatusOr<Trajectory> Trajectory::Read(const PlanningContext& context, double tie_epsilon) {
  absl::StatusOr<trainer::SearchSpace> space = PlanningSpace(context.space, context.spec.backbone());
  if (!space.ok()) return space.status();
  Trajectory t;
  t.space_ = *std::move(space);
  t.history_ = context.history;
  t.tie_epsilon_ = tie_epsilon;
  for (const vmle::v1::Trial& trial : t.history_) {
    t.scores_.push_back(ScoreOf(trial, context.spec.objective().direction()));
    vmle::v1::Configuration config = trial.config();
    ResetInactive(t.space_, &config);
    std::vector<std::string> texts;
    for (const trainer::ParamSpec& p : t.space_.params) texts.push_back(space::ValueText(ValueOf(p, config)));
    t.values_.push_back(std::move(texts));
  }
  t.FindParents();
  return t;
}

// Trials that differ in one parameter group share the hash of everything outside
// that group: one hash-map probe per group and trial instead of comparing all pairs.
void Trajectory::FindParents() {
  const size_t n = space_.params.size();
  const std::vector<std::vector<size_t>> groups = Groups(space_);
  absl::flat_hash_map<std::pair<size_t, uint64_t>, std::vector<int>> by_rest;
  for (size_t i = 0; i < history_.size(); ++i) {
    std::vector<uint64_t> h(n);
    uint64_t all = 0;
    for (size_t p = 0; p < n; ++p) all ^= h[p] = absl::HashOf(p, values_[i][p]);
    std::vector<uint64_t> rest(n, all);
    Step step;
    step.knob = i == 0 ? "" : kSeveralKnobs;
    for (size_t p = 0; p < n; ++p) {
      for (size_t q : groups[p]) rest[p] ^= h[q];
      auto it = by_rest.find(std::make_pair(p, rest[p]));
      if (it == by_rest.end()) continue;
      for (int j : it->second) {
        if (values_[static_cast<size_t>(j)][p] == values_[i][p]) continue;
        if (step.parent >= 0 && Estimate(j) <= Estimate(step.parent)) continue;
        const trainer::ParamSpec& param = space_.params[p];
        step.parent = j;
        step.knob = param.name;
        step.from_value = values_[static_cast<size_t>(j)][p];
        step.to_value = values_[i][p];
        step.direction = DirectionOf(param, ValueAt(j, param), ValueAt(static_cast<int>(i), param));
      }
    }
    step.failed = !std::isfinite(scores_[i]);
    const int reference = step.parent >= 0 ? step.parent : Best(static_cast<int>(i));
    if (i > 0 && reference >= 0) step.gain = RelativeChange(scores_[i], Score(reference));
    if (step.failed) step.gain = -1.0;
    estimates_.push_back(step.parent >= 0 && !step.failed ? (Estimate(step.parent) + scores_[i]) / 2 : scores_[i]);
    steps_.push_back(std::move(step));
    if (std::isfinite(scores_[i])) {
      for (size_t p = 0; p < n; ++p) by_rest[std::make_pair(p, rest[p])].push_back(static_cast<int>(i));
    }
  }
}

vmle::v1::ParamValue Trajectory::ValueAt(int index, const trainer::ParamSpec& param) const {
  return ValueOf(param, history_[static_cast<size_t>(index)].config());
}

std::pair<int, double> Trajectory::Complexity(int index) const {
  int changed = 0;
  double size = 1.0;
  for (size_t p = 0; p < space_.params.size(); ++p) {
    const trainer::ParamSpec& param = space_.params[p];
    if (values_[static_cast<size_t>(index)][p] != space::ValueText(DefaultValue(param))) ++changed;
    if (param.name == "hidden_dim" || param.name == "num_blocks") size *= NumberOf(ValueAt(index, param));
  }
  return {changed, size};
}

int Trajectory::Best(int count) const {
  const int n = count < 0 ? static_cast<int>(history_.size()) : std::min<int>(count, history_.size());
  double top = kNoScore;
  for (int i = 0; i < n; ++i) top = std::max(top, Estimate(i));
  if (!std::isfinite(top)) return -1;
  const double margin = tie_epsilon_ * std::abs(top);
  int best = -1;
  for (int i = 0; i < n; ++i) {
    if (Estimate(i) < top - margin) continue;
    if (best < 0 || Complexity(i) < Complexity(best)) best = i;
  }
  return best;
}

}  // namespace vmle::agent::heuristic
