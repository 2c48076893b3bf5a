#include "services/agent/planner/classical/tpe_planner.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/str_format.h"
#include "services/agent/planner/classical/parzen.h"
#include "services/agent/planner/classical/random_planner.h"
#include "services/agent/planner/planner_options.h"
#include "services/agent/planner/planning_round.h"

namespace vmle::agent {
namespace {

using Config = vmle::v1::Configuration;

constexpr double kWorst = std::numeric_limits<double>::infinity();
// Rounds of n_candidates draws before a proposal falls back to a random sample.
constexpr int kCandidateRounds = 8;
constexpr uint64_t kTpeStream = 0x747065;  // "tpe"

// Lower is better; failed trials and trials without a finite value are worst.
double Loss(const vmle::v1::Trial& trial, vmle::v1::Direction direction) {
  if (trial.status() == vmle::v1::TRIAL_STATUS_FAILED || !std::isfinite(trial.objective_value())) return kWorst;
  return direction == vmle::v1::DIRECTION_MINIMIZE ? trial.objective_value() : -trial.objective_value();
}

// l(x) and g(x) of one parameter.
class ParamModel {
 public:
  ParamModel(const space::SearchSpace& space, const space::ParamSpec& param, const std::vector<Config>& below,
             const std::vector<Config>& above, double prior_weight)
      : param_(&param) {
    if (IsNumeric(param)) {
      l_num_.emplace(UnitPoints(space, below), prior_weight);
      g_num_.emplace(UnitPoints(space, above), prior_weight);
    } else {
      l_cat_.emplace(ChoicePoints(space, below), NumChoices(param), prior_weight);
      g_cat_.emplace(ChoicePoints(space, above), NumChoices(param), prior_weight);
    }
  }

  const space::ParamSpec& param() const { return *param_; }

  // log l(x) - log g(x) at the parameter's value.
  double LogRatio(const vmle::v1::ParamValue& value) const {
    if (l_num_.has_value()) {
      const double u = ToUnit(*param_, value);
      return l_num_->LogDensity(u) - g_num_->LogDensity(u);
    }
    const int c = ChoiceIndex(*param_, value);
    return l_cat_->LogDensity(c) - g_cat_->LogDensity(c);
  }

  vmle::v1::ParamValue SampleBelow(Rng& rng) const {
    if (l_num_.has_value()) return FromUnit(*param_, l_num_->Sample(rng));
    return FromChoice(*param_, l_cat_->Sample(rng));
  }

 private:
  std::vector<double> UnitPoints(const space::SearchSpace& space, const std::vector<Config>& configs) const {
    std::vector<double> out;
    for (const Config& c : configs) {
      if (IsActive(space, *param_, c)) out.push_back(ToUnit(*param_, ValueOf(*param_, c)));
    }
    return out;
  }
  std::vector<int> ChoicePoints(const space::SearchSpace& space, const std::vector<Config>& configs) const {
    std::vector<int> out;
    for (const Config& c : configs) {
      if (IsActive(space, *param_, c)) out.push_back(ChoiceIndex(*param_, ValueOf(*param_, c)));
    }
    return out;
  }

  const space::ParamSpec* param_;
  std::optional<NumericParzen> l_num_, g_num_;
  std::optional<CategoricalParzen> l_cat_, g_cat_;
};

// The independent TPE model over the whole space.
class TpeModel {
 public:
  TpeModel(const space::SearchSpace& space, const std::vector<Config>& below, const std::vector<Config>& above,
           double prior_weight)
      : space_(space) {
    for (const space::ParamSpec& p : space.params) models_.emplace_back(space, p, below, above, prior_weight);
  }

  // Sum of log l - log g over the parameters active in `config`.
  double Score(const Config& config) const {
    double score = 0.0;
    for (const ParamModel& m : models_) {
      if (IsActive(space_, m.param(), config)) score += m.LogRatio(ValueOf(m.param(), config));
    }
    return score;
  }

  Config SampleBelow(Rng& rng) const {
    Config out;
    for (const ParamModel& m : models_) (*out.mutable_values())[m.param().name] = m.SampleBelow(rng);
    return out;
  }

  // Each parameter at the candidates' value with the largest l/g.
  Config ComposeBest(const std::vector<Config>& candidates) const {
    Config out;
    for (const ParamModel& m : models_) {
      double best = -kWorst;
      for (const Config& c : candidates) {
        const vmle::v1::ParamValue v = ValueOf(m.param(), c);
        if (const double r = m.LogRatio(v); r > best) {
          best = r;
          (*out.mutable_values())[m.param().name] = v;
        }
      }
    }
    return out;
  }

 private:
  const space::SearchSpace& space_;
  std::vector<ParamModel> models_;
};

struct Finished {
  double loss;
  const Config* config;
};

std::vector<Finished> SortedHistory(const PlanningContext& context) {
  std::vector<Finished> out;
  for (const vmle::v1::Trial& t : context.history) {
    out.push_back({Loss(t, context.spec.objective().direction()), &t.config()});
  }
  std::stable_sort(out.begin(), out.end(), [](const Finished& a, const Finished& b) { return a.loss < b.loss; });
  return out;
}

std::string Hypothesis(double log_ratio, int candidates) {
  if (log_ratio < 30) return absl::StrFormat("TPE: maximises l/g = %.3g over %d candidates", std::exp(log_ratio), candidates);
  return absl::StrFormat("TPE: maximises l/g = e^%.1f over %d candidates", log_ratio, candidates);
}

struct Scored {
  Config config;
  double log_ratio;
};

// The admitted candidate with the largest l/g among rounds of n_candidates draws
// from l(x), each round with its per-parameter argmax; nullopt when none is admitted.
std::optional<Scored> BestCandidate(const PlanningRound& round, const TpeModel& model, int n_candidates, Rng& rng) {
  std::optional<Scored> best;
  for (int r = 0; r < kCandidateRounds && !best.has_value(); ++r) {
    std::vector<Config> candidates;
    for (int i = 0; i < n_candidates; ++i) candidates.push_back(model.SampleBelow(rng));
    candidates.insert(candidates.begin(), model.ComposeBest(candidates));
    for (const Config& c : candidates) {
      std::optional<Config> admitted = round.Admit(c);
      if (!admitted.has_value()) continue;
      const double score = model.Score(*admitted);
      if (!best.has_value() || score > best->log_ratio) best = Scored{*std::move(admitted), score};
    }
  }
  return best;
}

// One TPE proposal; false when no new valid configuration was found.
bool AddTpeProposal(PlanningRound& round, const TpeOptions& options, const std::vector<Finished>& history,
                    const std::vector<Config>& liars, uint64_t seed) {
  const int finite = static_cast<int>(
      std::count_if(history.begin(), history.end(), [](const Finished& f) { return f.loss < kWorst; }));
  const int n_below = std::clamp(static_cast<int>(std::ceil(options.gamma * history.size())), 1, finite);
  std::vector<Config> below, above = liars;
  for (size_t i = 0; i < history.size(); ++i) (static_cast<int>(i) < n_below ? below : above).push_back(*history[i].config);
  const TpeModel model(round.space(), below, above, options.prior_weight);
  Rng rng(DeriveSeed(seed ^ kTpeStream, static_cast<uint64_t>(round.proposed())));
  std::optional<Scored> best = BestCandidate(round, model, options.n_candidates, rng);
  if (!best.has_value()) return false;
  round.Add(std::move(best->config), Hypothesis(best->log_ratio, options.n_candidates));
  return true;
}

}  // namespace

absl::StatusOr<TpeOptions> ParseTpeOptions(const vmle::v1::PlannerSpec& spec) {
  TpeOptions options;
  OptionReader reader(spec);
  if (absl::Status s = reader.Int("n_startup", 0, 10000, &options.n_startup); !s.ok()) return s;
  if (absl::Status s = reader.Double("gamma", 0.0, 1.0, true, &options.gamma); !s.ok()) return s;
  if (absl::Status s = reader.Int("n_candidates", 1, 10000, &options.n_candidates); !s.ok()) return s;
  if (absl::Status s = reader.Double("prior_weight", 0.0, 1000.0, true, &options.prior_weight); !s.ok()) return s;
  if (absl::Status s = reader.NoOthers(); !s.ok()) return s;
  return options;
}

absl::StatusOr<std::vector<PlannedTrial>> TpePlanner::Propose(const PlanningContext& context) {
  PlanningRound round = PlanningRound::Start(context, Name());
  const std::vector<Finished> history = SortedHistory(context);
  const bool any_finite = !history.empty() && history.front().loss < kWorst;
  std::vector<Config> liars;
  for (const vmle::v1::Trial& t : context.pending) liars.push_back(t.config());
  while (!round.full()) {
    const bool startup = round.proposed() < options_.n_startup || !any_finite;
    const bool added = (!startup && AddTpeProposal(round, options_, history, liars, context.seed)) ||
                       AddRandomProposal(round, context.seed);
    if (!added) break;
    liars.push_back(round.trials().back().config);
  }
  return round.Take();
}

}  // namespace vmle::agent
