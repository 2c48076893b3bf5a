#include "services/agent/early_stop/early_stopping.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_format.h"

namespace vmle::agent {
namespace {

constexpr int kDefaultGrace = 3;
constexpr int kDefaultMinTrials = 3;
constexpr int kDefaultReduction = 3;
constexpr int kMaxSetting = 100000;

struct Settings {
  int grace;
  int min_trials;
  int eta;
  bool maximise;
};

Settings Resolve(const vmle::v1::EarlyStoppingSpec& spec, vmle::v1::Direction direction) {
  return {spec.grace_epochs() > 0 ? spec.grace_epochs() : kDefaultGrace,
          spec.min_trials() > 0 ? spec.min_trials() : kDefaultMinTrials,
          spec.reduction_factor() > 0 ? spec.reduction_factor() : kDefaultReduction,
          direction != vmle::v1::DIRECTION_MINIMIZE};
}

// The value as a score where higher is better; NaN is worst.
double Score(double value, bool maximise) {
  if (std::isnan(value)) return -std::numeric_limits<double>::infinity();
  return maximise ? value : -value;
}

// The best score of `curve` over its first `epochs` epochs.
double BestSoFar(const std::vector<double>& curve, int epochs, bool maximise) {
  double best = -std::numeric_limits<double>::infinity();
  for (int e = 0; e < epochs; ++e) best = std::max(best, Score(curve[static_cast<size_t>(e)], maximise));
  return best;
}

// Best-so-far scores at `epoch` of the other trials whose curves reached it.
std::vector<double> OthersAt(const std::vector<std::vector<double>>& others, int epoch, bool maximise) {
  std::vector<double> out;
  for (const std::vector<double>& curve : others) {
    if (static_cast<int>(curve.size()) >= epoch) out.push_back(BestSoFar(curve, epoch, maximise));
  }
  return out;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

// A score back in the objective's units, for messages.
double Value(double score, bool maximise) { return maximise ? score : -score; }

EarlyStoppingDecision Continue(std::string reason) { return {false, std::move(reason)}; }

EarlyStoppingDecision MedianRule(const Settings& s, const std::vector<std::vector<double>>& others,
                                 const std::vector<double>& current) {
  const int epoch = static_cast<int>(current.size());
  if (epoch < s.grace) return Continue(absl::StrFormat("epoch %d: within the %d grace epochs", epoch, s.grace));
  const std::vector<double> at = OthersAt(others, epoch, s.maximise);
  if (static_cast<int>(at.size()) < s.min_trials) {
    return Continue(absl::StrFormat("epoch %d: %d other trials reached it, %d needed", epoch, at.size(), s.min_trials));
  }
  const double best = BestSoFar(current, epoch, s.maximise);
  const double median = Median(at);
  const std::string comparison = absl::StrFormat("epoch %d: best %.6g %s the median %.6g of %d trials", epoch,
                                                 Value(best, s.maximise), best < median ? "worse than" : "not worse than",
                                                 Value(median, s.maximise), at.size());
  return {best < median, comparison};
}

// The rung index when `epoch` is a rung (grace * eta^k), else -1.
int RungOf(int epoch, const Settings& s) {
  int64_t rung = s.grace;
  for (int k = 0; rung <= epoch; ++k, rung *= s.eta) {
    if (rung == epoch) return k;
  }
  return -1;
}

EarlyStoppingDecision SuccessiveHalving(const Settings& s, const std::vector<std::vector<double>>& others,
                                        const std::vector<double>& current) {
  const int epoch = static_cast<int>(current.size());
  const int rung = RungOf(epoch, s);
  if (rung < 0) return Continue(absl::StrFormat("epoch %d: not a rung", epoch));
  const std::vector<double> at = OthersAt(others, epoch, s.maximise);
  if (static_cast<int>(at.size()) < s.min_trials) {
    return Continue(absl::StrFormat("rung %d (epoch %d): %d other trials reached it, %d needed", rung, epoch,
                                    at.size(), s.min_trials));
  }
  const double best = BestSoFar(current, epoch, s.maximise);
  const int better = static_cast<int>(std::count_if(at.begin(), at.end(), [&](double v) { return v > best; }));
  const int n = static_cast<int>(at.size()) + 1;
  const int keep = std::max(1, n / s.eta);
  const bool promoted = better < keep;
  return {!promoted, absl::StrFormat("rung %d (epoch %d): best %.6g ranks %d of %d, top %d %s", rung, epoch,
                                     Value(best, s.maximise), better + 1, n, keep,
                                     promoted ? "continue" : "stop")};
}

absl::Status OutOfRange(const std::string& field, int value, const std::string& expected) {
  return absl::InvalidArgumentError("early_stopping." + field + ": " + expected + ", got " + std::to_string(value));
}

}  // namespace

absl::Status ValidateEarlyStopping(const vmle::v1::EarlyStoppingSpec& spec) {
  if (!vmle::v1::EarlyStoppingRule_IsValid(spec.rule())) {
    return OutOfRange("rule", spec.rule(), "expected EARLY_STOPPING_RULE_OFF, _MEDIAN or _SUCCESSIVE_HALVING");
  }
  if (spec.grace_epochs() < 0 || spec.grace_epochs() > kMaxSetting) {
    return OutOfRange("grace_epochs", spec.grace_epochs(), "expected 0 (default 3) to 100000");
  }
  if (spec.min_trials() < 0 || spec.min_trials() > kMaxSetting) {
    return OutOfRange("min_trials", spec.min_trials(), "expected 0 (default 3) to 100000");
  }
  if (spec.reduction_factor() < 0 || spec.reduction_factor() == 1 || spec.reduction_factor() > kMaxSetting) {
    return OutOfRange("reduction_factor", spec.reduction_factor(), "expected 0 (default 3) or 2 to 100000");
  }
  return absl::OkStatus();
}

EarlyStoppingDecision DecideEarlyStop(const vmle::v1::EarlyStoppingSpec& spec, vmle::v1::Direction direction,
                                      const std::vector<std::vector<double>>& others,
                                      const std::vector<double>& current) {
  const Settings s = Resolve(spec, direction);
  switch (spec.rule()) {
    case vmle::v1::EARLY_STOPPING_RULE_MEDIAN: return MedianRule(s, others, current);
    case vmle::v1::EARLY_STOPPING_RULE_SUCCESSIVE_HALVING: return SuccessiveHalving(s, others, current);
    default: break;
  }
  return Continue("early stopping is off");
}

}  // namespace vmle::agent
