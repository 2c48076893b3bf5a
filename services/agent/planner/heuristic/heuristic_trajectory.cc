#include "services/agent/planner/heuristic/heuristic_trajectory.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_format.h"
#include "common/space/space_proto.h"
#include "services/agent/planner/space_sampling.h"

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
std::vector<std::vector<size_t>> Groups(const space::SearchSpace& space) {
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

evidence::Options StudyEvidenceOptions(const PlanningContext& context, double noise_prior, int max_seeds) {
  int done = 0;
  for (const vmle::v1::Trial& t : context.history) done += t.proposal().replicate_of() > 0;
  evidence::Options o;
  o.prior_relative_sd = noise_prior;
  o.max_seeds = max_seeds;
  o.intensify = evidence::Intensifying(context.spec.budget(), done);
  return o;
}

double NumberOf(const vmle::v1::ParamValue& value) {
  switch (value.kind_case()) {
    case vmle::v1::ParamValue::kIntValue: return static_cast<double>(value.int_value());
    case vmle::v1::ParamValue::kFloatValue: return value.float_value();
    case vmle::v1::ParamValue::kCategoricalValue: return std::strtod(value.categorical_value().c_str(), nullptr);
    default: break;
  }
  return 0.0;
}

std::string DirectionOf(const space::ParamSpec& param, const vmle::v1::ParamValue& from,
                        const vmle::v1::ParamValue& to) {
  if (IsNumeric(param)) return NumberOf(to) >= NumberOf(from) ? "up" : "down";
  return space::ValueText(to);
}

Trajectory Trajectory::Read(const PlanningContext& context, double tie_epsilon, evidence::Options evidence) {
  Trajectory t;
  t.space_ = &context.space;
  t.history_ = context.history;
  t.tie_epsilon_ = tie_epsilon;
  t.direction_ = context.spec.objective().direction();
  t.evidence_options_ = std::move(evidence);
  for (const vmle::v1::Trial& trial : t.history_) {
    t.scores_.push_back(ScoreOf(trial, context.spec.objective().direction()));
    vmle::v1::Configuration config = trial.config();
    ResetInactive(*t.space_, &config);
    std::vector<std::string> texts;
    for (const space::ParamSpec& p : t.space_->params) texts.push_back(space::ValueText(ValueOf(p, config)));
    t.values_.push_back(std::move(texts));
  }
  t.evidence_ = std::make_shared<const evidence::StudyEvidence>(
      evidence::StudyEvidence::Read(t.history_, t.direction_, t.EvidenceOptions()));
  t.FindParents();
  return t;
}

evidence::Options Trajectory::EvidenceOptions() const {
  evidence::Options o = evidence_options_;
  o.tie = tie_epsilon_;
  o.simpler = [this](int a, int b) { return Complexity(a) < Complexity(b); };
  return o;
}

double Trajectory::Estimate(int index) const {
  const int g = evidence_->GroupOf(index);
  return g < 0 ? kNoScore : evidence_->groups()[static_cast<size_t>(g)].Mean();
}

std::string Trajectory::Describe(int index) const {
  const vmle::v1::Trial& t = history_[static_cast<size_t>(index)];
  const int g = evidence_->GroupOf(index);
  if (g < 0) return absl::StrFormat("trial %d", t.number());
  const evidence::Group& group = evidence_->groups()[static_cast<size_t>(g)];
  const double mean = direction_ == vmle::v1::DIRECTION_MINIMIZE ? -group.Mean() : group.Mean();
  const int n = group.Finished();
  if (n <= 1) return absl::StrFormat("trial %d (%.4g, 1 seed)", group.first().number, mean);
  return absl::StrFormat("trial %d (%.4g ± %.2g over %d seeds)", group.first().number, mean, group.Sd(), n);
}

// Trials that differ in one parameter group share the hash of everything outside
// that group: one hash-map probe per group and trial instead of comparing all pairs.
void Trajectory::FindParents() {
  const size_t n = space_->params.size();
  const std::vector<std::vector<size_t>> groups = Groups(*space_);
  absl::flat_hash_map<std::pair<size_t, uint64_t>, std::vector<int>> by_rest;
  for (size_t i = 0; i < history_.size(); ++i) {
    std::vector<uint64_t> h(n);
    uint64_t all = 0;
    for (size_t p = 0; p < n; ++p) all ^= h[p] = absl::HashOf(p, values_[i][p]);
    std::vector<uint64_t> rest(n, all);
    Step step;
    step.knob = i == 0 ? "" : kSeveralKnobs;
    const int group = evidence_->GroupOf(static_cast<int>(i));
    const int first = group < 0 ? static_cast<int>(i) : evidence_->groups()[static_cast<size_t>(group)].first().index;
    if (first != static_cast<int>(i)) {
      // A rerun of a configuration: evidence about its value, not a change.
      step.replicate_of = first;
      step.knob.clear();
      step.failed = !std::isfinite(scores_[i]);
      steps_.push_back(std::move(step));
      continue;
    }
    int derived = -1;
    for (size_t j = 0; j < i; ++j) {
      if (history_[j].number() == history_[i].proposal().derived_from()) derived = static_cast<int>(j);
    }
    for (size_t p = 0; p < n; ++p) {
      for (size_t q : groups[p]) rest[p] ^= h[q];
      auto it = by_rest.find(std::make_pair(p, rest[p]));
      if (it == by_rest.end()) continue;
      for (int j : it->second) {
        if (values_[static_cast<size_t>(j)][p] == values_[i][p]) continue;
        // The trial it was derived from, else the best one-change neighbour.
        if (step.parent >= 0 && (step.parent == derived || (j != derived && Estimate(j) <= Estimate(step.parent)))) {
          continue;
        }
        const space::ParamSpec& param = space_->params[p];
        step.parent = j;
        step.knob = param.name;
        step.from_value = values_[static_cast<size_t>(j)][p];
        step.to_value = values_[i][p];
        step.direction = DirectionOf(param, ValueAt(j, param), ValueAt(static_cast<int>(i), param));
      }
    }
    step.failed = !std::isfinite(scores_[i]);
    const int reference = step.parent >= 0 ? step.parent : Best(static_cast<int>(i));
    if (i > 0 && reference >= 0) {
      // Paired: against the reference configuration's run on this trial's seed.
      const int g = evidence_->GroupOf(reference);
      const std::optional<double> same_seed =
          g < 0 ? std::nullopt : evidence_->groups()[static_cast<size_t>(g)].On(history_[i].seed());
      step.paired = same_seed.has_value();
      step.gain = RelativeChange(scores_[i], same_seed.has_value() ? *same_seed : Estimate(reference));
    }
    if (step.failed) step.gain = -1.0;
    steps_.push_back(std::move(step));
    if (std::isfinite(scores_[i])) {
      for (size_t p = 0; p < n; ++p) by_rest[std::make_pair(p, rest[p])].push_back(static_cast<int>(i));
    }
  }
}

vmle::v1::ParamValue Trajectory::ValueAt(int index, const space::ParamSpec& param) const {
  return ValueOf(param, history_[static_cast<size_t>(index)].config());
}

std::pair<int, double> Trajectory::Complexity(int index) const {
  int changed = 0;
  double size = 1.0;
  for (size_t p = 0; p < space_->params.size(); ++p) {
    const space::ParamSpec& param = space_->params[p];
    if (values_[static_cast<size_t>(index)][p] != space::ValueText(DefaultValue(param))) ++changed;
    if (param.name == "hidden_dim" || param.name == "num_blocks") size *= NumberOf(ValueAt(index, param));
  }
  return {changed, size};
}

int Trajectory::Best(int count) const {
  const int n = count < 0 ? static_cast<int>(history_.size()) : std::min<int>(count, history_.size());
  if (n == static_cast<int>(history_.size())) {
    const int g = evidence_->Incumbent();
    return g < 0 ? -1 : evidence_->groups()[static_cast<size_t>(g)].first().index;
  }
  const std::vector<vmle::v1::Trial> before(history_.begin(), history_.begin() + n);
  const evidence::StudyEvidence earlier = evidence::StudyEvidence::Read(before, direction_, EvidenceOptions());
  const int g = earlier.Incumbent();
  return g < 0 ? -1 : earlier.groups()[static_cast<size_t>(g)].first().index;
}

}  // namespace vmle::agent::heuristic
