#include "services/agent/evidence/evidence.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace vmle::agent::evidence {
namespace {

constexpr double kNoScore = -std::numeric_limits<double>::infinity();

bool Finished(const vmle::v1::Trial& t) {
  return t.status() == vmle::v1::TRIAL_STATUS_SUCCEEDED || t.status() == vmle::v1::TRIAL_STATUS_STOPPED ||
         t.status() == vmle::v1::TRIAL_STATUS_FAILED;
}

double ScoreOf(const vmle::v1::Trial& t, vmle::v1::Direction direction) {
  if (t.status() == vmle::v1::TRIAL_STATUS_FAILED || !std::isfinite(t.objective_value())) return kNoScore;
  return direction == vmle::v1::DIRECTION_MINIMIZE ? -t.objective_value() : t.objective_value();
}

double Relative(double to, double from) { return (to - from) / std::max(std::abs(from), 1e-12); }

std::string ValueText(const vmle::v1::ParamValue& v) {
  switch (v.kind_case()) {
    case vmle::v1::ParamValue::kIntValue: return absl::StrCat(v.int_value());
    case vmle::v1::ParamValue::kFloatValue: return absl::StrFormat("%.17g", v.float_value());
    case vmle::v1::ParamValue::kBoolValue: return v.bool_value() ? "true" : "false";
    case vmle::v1::ParamValue::kCategoricalValue: return v.categorical_value();
    default: return "";
  }
}

}  // namespace

bool Run::finished() const { return std::isfinite(score); }

int Group::Finished() const {
  return static_cast<int>(std::count_if(runs.begin(), runs.end(), [](const Run& r) { return r.finished(); }));
}

double Group::Mean() const {
  double sum = 0;
  int n = 0;
  for (const Run& r : runs) {
    if (!r.finished()) continue;
    sum += r.score;
    ++n;
  }
  return n == 0 ? kNoScore : sum / n;
}

double Group::Sd() const {
  const int n = Finished();
  if (n < 2) return 0;
  const double mean = Mean();
  double ss = 0;
  for (const Run& r : runs) {
    if (r.finished()) ss += (r.score - mean) * (r.score - mean);
  }
  return std::sqrt(ss / (n - 1));
}

std::optional<double> Group::On(uint64_t seed) const {
  double sum = 0;
  int n = 0;
  for (const Run& r : runs) {
    if (!r.finished() || r.seed != seed) continue;
    sum += r.score;
    ++n;
  }
  if (n == 0) return std::nullopt;
  return sum / n;
}

std::string Effect::Text() const {
  if (comparisons == 0) return "not measured";
  return absl::StrFormat("%+.1f%% ± %.1f%% (%s)", 100 * mean, 100 * (high - low) / 2,
                         paired ? absl::StrCat(comparisons, comparisons == 1 ? " paired seed" : " paired seeds")
                                : std::string("unpaired"));
}

double TQuantile975(int df) {
  static constexpr double kTable[] = {0,     12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                      2.201, 2.179,  2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086};
  if (df <= 0) return kTable[1];
  if (df <= 20) return kTable[df];
  if (df <= 30) return 2.042;
  if (df <= 60) return 2.000;
  return 1.96;
}

Effect EffectOf(const std::vector<double>& differences, double prior_sd, bool paired) {
  Effect e;
  e.paired = paired;
  e.comparisons = static_cast<int>(differences.size());
  if (differences.empty()) return e;
  const double n = static_cast<double>(differences.size());
  double sum = 0;
  for (double d : differences) sum += d;
  e.mean = sum / n;
  double ss = 0;
  for (double d : differences) ss += (d - e.mean) * (d - e.mean);
  // The prior spread counts as one more comparison's worth of evidence about the spread.
  const double variance = (ss + prior_sd * prior_sd) / n;
  const double half = (differences.size() == 1 ? 1.96 : TQuantile975(static_cast<int>(differences.size())))
                      * std::sqrt(variance / n);
  e.low = e.mean - half;
  e.high = e.mean + half;
  return e;
}

int ReplicateBudget(const vmle::v1::Budget& budget) {
  if (budget.max_replicates() < 0) return 0;
  if (budget.max_replicates() > 0) return budget.max_replicates();
  return std::max(2, budget.max_trials() / 8);
}

bool Intensifying(const vmle::v1::Budget& budget, int replicates_done) {
  return replicates_done < ReplicateBudget(budget);
}

uint64_t FreshSeed(uint64_t study_seed, int number) {
  uint64_t z = study_seed + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(number);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return (z ^ (z >> 31)) & 0x7fffffffffffffffULL;
}

std::string ConfigurationKey(const vmle::v1::Configuration& config) {
  std::map<std::string, std::string> sorted;
  for (const auto& [name, value] : config.values()) sorted[name] = ValueText(value);
  std::string key;
  for (const auto& [name, text] : sorted) absl::StrAppend(&key, name, "=", text, ";");
  return key;
}

StudyEvidence StudyEvidence::Read(const std::vector<vmle::v1::Trial>& trials, vmle::v1::Direction direction,
                                  Options options) {
  std::vector<const vmle::v1::Trial*> pointers;
  pointers.reserve(trials.size());
  for (const vmle::v1::Trial& t : trials) pointers.push_back(&t);
  return Read(pointers, direction, std::move(options));
}

StudyEvidence StudyEvidence::Read(const std::vector<const vmle::v1::Trial*>& trials, vmle::v1::Direction direction,
                                  Options options, const std::vector<const std::string*>* keys) {
  StudyEvidence e;
  e.options_ = std::move(options);
  std::map<std::string, int> by_key;
  e.group_of_.assign(trials.size(), -1);
  for (size_t i = 0; i < trials.size(); ++i) {
    const vmle::v1::Trial& t = *trials[i];
    if (!Finished(t)) continue;
    auto [it, fresh] = by_key.try_emplace(keys != nullptr ? *(*keys)[i] : ConfigurationKey(t.config()),
                                          static_cast<int>(e.groups_.size()));
    if (fresh) e.groups_.emplace_back();
    e.groups_[static_cast<size_t>(it->second)].runs.push_back(
        Run{static_cast<int>(i), t.number(), t.seed(), ScoreOf(t, direction)});
    e.group_of_[i] = it->second;
    e.numbers_.emplace_back(t.number(), it->second);
  }
  e.EstimateNoise();
  e.ChooseIncumbent();
  e.options_.simpler = nullptr;  // may refer to the caller's objects; used only above
  return e;
}

int StudyEvidence::GroupOf(int index) const {
  return index < 0 || index >= static_cast<int>(group_of_.size()) ? -1 : group_of_[static_cast<size_t>(index)];
}

int StudyEvidence::GroupOfNumber(int number) const {
  for (const auto& [n, g] : numbers_) {
    if (n == number) return g;
  }
  return -1;
}

void StudyEvidence::EstimateNoise() {
  double ss = 0, relative_ss = 0;
  int df = 0, configurations = 0;
  for (const Group& g : groups_) {
    const int n = g.Finished();
    if (n < 2) continue;
    const double mean = g.Mean();
    for (const Run& r : g.runs) {
      if (!r.finished()) continue;
      ss += (r.score - mean) * (r.score - mean);
      relative_ss += Relative(r.score, mean) * Relative(r.score, mean);
    }
    df += n - 1;
    ++configurations;
  }
  noise_.set_degrees_of_freedom(df);
  noise_.set_configurations(configurations);
  if (df == 0) return;
  noise_.set_sd(std::sqrt(ss / df));
  noise_.set_relative_sd(std::sqrt(relative_ss / df));
}

double StudyEvidence::RelativeSd() const {
  const double prior = options_.prior_relative_sd;
  const int df = noise_.degrees_of_freedom();
  const double measured = noise_.relative_sd();
  return std::sqrt((df * measured * measured + 2 * prior * prior) / (df + 2));
}

int StudyEvidence::PairsWith(int group, int reference) const {
  int pairs = 0;
  std::vector<uint64_t> seen;
  for (const Run& r : groups_[static_cast<size_t>(group)].runs) {
    if (!r.finished() || std::find(seen.begin(), seen.end(), r.seed) != seen.end()) continue;
    seen.push_back(r.seed);
    pairs += groups_[static_cast<size_t>(reference)].On(r.seed).has_value();
  }
  return pairs;
}

std::vector<double> StudyEvidence::Differences(int challenger, int reference, bool* paired) const {
  const Group& a = groups_[static_cast<size_t>(challenger)];
  const Group& b = groups_[static_cast<size_t>(reference)];
  std::vector<double> differences;
  std::vector<uint64_t> seen;
  for (const Run& r : a.runs) {
    if (!r.finished() || std::find(seen.begin(), seen.end(), r.seed) != seen.end()) continue;
    seen.push_back(r.seed);
    if (std::optional<double> other = b.On(r.seed); other.has_value()) {
      differences.push_back(Relative(*a.On(r.seed), *other));
    }
  }
  *paired = !differences.empty();
  if (differences.empty() && a.Finished() > 0 && b.Finished() > 0) differences.push_back(Relative(a.Mean(), b.Mean()));
  return differences;
}

Effect StudyEvidence::Compare(int challenger, int reference) const {
  const Group& a = groups_[static_cast<size_t>(challenger)];
  const Group& b = groups_[static_cast<size_t>(reference)];
  const double sd = RelativeSd();
  bool paired = false;
  const std::vector<double> differences = Differences(challenger, reference, &paired);
  if (paired) return EffectOf(differences, sd, /*paired=*/true);
  Effect e;
  if (differences.empty()) return e;
  e.comparisons = 1;
  e.mean = differences.front();
  const double half = 1.96 * sd * std::sqrt(1.0 / a.Finished() + 1.0 / b.Finished());
  e.low = e.mean - half;
  e.high = e.mean + half;
  return e;
}

void StudyEvidence::ChooseIncumbent() {
  for (int g = 0; g < static_cast<int>(groups_.size()); ++g) {
    if (groups_[static_cast<size_t>(g)].Finished() == 0) continue;
    if (incumbent_ < 0) {
      incumbent_ = g;
      continue;
    }
    const Effect e = Compare(g, incumbent_);
    const bool decided = !options_.intensify || PairsWith(g, incumbent_) >= options_.max_seeds;
    const bool simpler = options_.simpler &&
                         options_.simpler(groups_[static_cast<size_t>(g)].first().index,
                                          groups_[static_cast<size_t>(incumbent_)].first().index);
    if ((options_.intensify && e.Clear() && e.mean > 0) || (decided && e.mean > options_.tie) ||
        (decided && simpler && e.mean >= -options_.tie)) {
      incumbent_ = g;
    }
  }
}

std::optional<ReplicateRequest> StudyEvidence::NextReplicate() const {
  if (incumbent_ < 0 || !options_.intensify) return std::nullopt;
  int best = -1;
  Effect best_effect;
  for (int g = 0; g < static_cast<int>(groups_.size()); ++g) {
    if (g == incumbent_ || groups_[static_cast<size_t>(g)].Finished() == 0) continue;
    const Effect e = Compare(g, incumbent_);
    if (e.mean <= options_.tie || e.Clear() || PairsWith(g, incumbent_) >= options_.max_seeds) continue;
    if (best < 0 || e.mean > best_effect.mean) {
      best = g;
      best_effect = e;
    }
  }
  if (best < 0) return std::nullopt;
  const Group& contender = groups_[static_cast<size_t>(best)];
  const Group& incumbent = groups_[static_cast<size_t>(incumbent_)];
  ReplicateRequest request;
  const std::string why = absl::StrFormat("trial %d (%s over trial %d)", contender.first().number,
                                          best_effect.Text(), incumbent.first().number);
  // The contender on a seed the incumbent ran and it did not; else the incumbent on a
  // new seed, which the contender is paired with next.
  for (const Run& r : incumbent.runs) {
    if (r.finished() && !contender.On(r.seed).has_value()) {
      request.replicate_of = contender.first().number;
      request.seed_from = r.number;
      request.reason = absl::StrCat(why, ", on the seed of trial ", r.number);
      return request;
    }
  }
  request.replicate_of = incumbent.first().number;
  request.seed_from = 0;
  request.reason = absl::StrCat(why, ": the incumbent on a new seed first");
  return request;
}

}  // namespace vmle::agent::evidence
