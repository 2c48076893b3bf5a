#include "services/agent/planner/heuristic_memory.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "services/agent/planner/heuristic_knowledge.h"
#include "services/agent/planner/heuristic_trajectory.h"

namespace vmle::agent {
namespace {

using heuristic::Step;
using heuristic::Trajectory;
using KnobDirection = std::pair<std::string, std::string>;

// "val ndcg@10" for the study's objective (NDCG@10 when unspecified).
std::string MetricName(const PlanningContext& context) {
  vmle::v1::Metric m = context.spec.objective().metric();
  if (m == vmle::v1::METRIC_UNSPECIFIED) m = vmle::v1::METRIC_NDCG_AT_10;
  std::string name = absl::AsciiStrToLower(vmle::v1::Metric_Name(m).substr(7));
  return "val " + absl::StrReplaceAll(name, {{"_at_", "@"}});
}

// Where a rule about `knob` applies: the catalogue regime for the loss, the length
// regime otherwise; "" without a profile.
std::string ConditionFor(const PlanningContext& context, const std::string& knob) {
  if (!context.profile.has_value()) return "";
  if (knob == "loss" || knob == "num_negatives") return heuristic::CatalogueRegime(*context.profile);
  return heuristic::LengthRegime(*context.profile);
}

std::string When(const std::string& condition) { return condition.empty() ? "on this dataset" : "when " + condition; }

// The context's history with `finished` as its newest trial, and its index there.
std::pair<PlanningContext, int> WithFinished(const PlanningContext& context, const vmle::v1::Trial& finished) {
  PlanningContext c = context;
  for (size_t i = 0; i < c.history.size(); ++i) {
    if (c.history[i].number() == finished.number()) return {std::move(c), static_cast<int>(i)};
  }
  c.history.push_back(finished);
  return {std::move(c), static_cast<int>(c.history.size()) - 1};
}

std::string Observation(const PlanningContext& context, const Trajectory& t, int index) {
  const vmle::v1::Trial& trial = t.history()[static_cast<size_t>(index)];
  const Step& step = t.steps()[static_cast<size_t>(index)];
  const std::string metric = MetricName(context);
  if (step.failed) {
    return absl::StrCat("trial ", trial.number(), " failed",
                        trial.failure_cause().empty() ? "" : " (" + trial.failure_cause() + ")");
  }
  const int best = t.Best(index);
  if (best < 0) return absl::StrFormat("%s %.6g on the first trial that finished", metric, trial.objective_value());
  const vmle::v1::Trial& b = t.history()[static_cast<size_t>(best)];
  const double vs_best = (t.Score(index) - t.Score(best)) / std::max(std::abs(t.Score(best)), 1e-12);
  std::string text = absl::StrFormat("%s %.6g against the best %.6g of trial %d (%+.1f%%)", metric,
                                     trial.objective_value(), b.objective_value(), b.number(), 100 * vs_best);
  if (step.parent >= 0) {
    const int parent = t.history()[static_cast<size_t>(step.parent)].number();
    absl::StrAppendFormat(&text, "; %s from %s to %s changed it by %+.1f%% against trial %d",
                          heuristic::ChangePhrase(step.knob, step.direction), step.from_value, step.to_value,
                          100 * step.gain, parent);
    // Proposed as a change of another knob from an earlier best, then measured against
    // a one-change neighbour that finished meanwhile and scores higher.
    const std::string& proposed = trial.proposal().changed_dimension();
    if (!proposed.empty() && proposed != step.knob && step.knob != heuristic::kSeveralKnobs) {
      absl::StrAppendFormat(&text, " (proposed as a change of %s; trial %d is its best one-change neighbour)",
                            proposed, parent);
    }
  }
  return text;
}

void FillJudgement(const PlanningContext& context, const Trajectory& t, const Step& step,
                   vmle::v1::Reflection* r) {
  const int best = t.Best();
  const std::string best_trial = best < 0 ? "the baseline" : absl::StrCat("trial ", t.history()[best].number());
  if (step.parent < 0) {
    r->set_explanation(step.knob.empty() ? "the baseline sets the reference for every later change"
                                         : "several parameters changed at once; their effects are not separable");
    r->set_generalized_rule(step.knob.empty() ? "measure every change against a trusted baseline"
                                              : "a configuration transferred from a similar dataset is a good start");
    r->set_next_action("change one parameter at a time from " + best_trial + ", the strongest levers first");
    return;
  }
  const std::string change = heuristic::ChangePhrase(step.knob, step.direction);
  const std::string when = When(ConditionFor(context, step.knob));
  const bool numeric = step.direction == "up" || step.direction == "down";
  if (t.Helped(step)) {
    r->set_explanation("consistent with the expected mechanism: " + heuristic::MechanismOf(step.knob, step.direction));
    r->set_generalized_rule(absl::StrCat(change, " helps ", when));
    r->set_next_action(numeric ? "continue " + change + " with the same or a larger step"
                               : "keep " + step.knob + " = " + step.direction + " and move to the next dimension");
  } else if (t.Hurt(step)) {
    r->set_explanation(step.failed ? "the run failed: " + heuristic::RiskOf(step.knob, step.direction)
                                   : "the risk outweighed the mechanism: " +
                                         heuristic::RiskOf(step.knob, step.direction));
    r->set_generalized_rule(absl::StrCat(change, " hurts ", when));
    r->set_next_action("roll back to " + best_trial + (numeric ? "; try the other direction of " + step.knob +
                                                                     " or the next dimension"
                                                               : " and try the next dimension"));
  } else {
    r->set_explanation("the change is within the noise: " + step.knob + " matters little around this configuration");
    r->set_generalized_rule(absl::StrCat(step.knob, " is insensitive near a good configuration ", when));
    r->set_next_action("keep the simpler configuration (" + best_trial + ") and move to an untried dimension");
  }
}

struct Tally {
  int support = 0;
  int contradict = 0;
  double gain_sum = 0;
  std::vector<int> trials;
  double Confidence() const { return (support + 1.0) / (support + contradict + 2.0); }
  double MeanGain() const { return support == 0 ? 0.0 : gain_sum / support; }
};

// Orders tallies strongest first (see HeuristicInsights).
bool Stronger(const Tally& a, const Tally& b) {
  if (a.support != b.support) return a.support > b.support;
  if (a.Confidence() != b.Confidence()) return a.Confidence() > b.Confidence();
  return a.MeanGain() > b.MeanGain();
}

void Count(const Trajectory& t, const Step& step, double gain, int number, Tally& tally) {
  if (gain > t.tie_epsilon() && !step.failed) {
    ++tally.support;
    tally.gain_sum += gain;
    tally.trials.push_back(number);
  } else if (step.failed || gain < -t.tie_epsilon()) {
    ++tally.contradict;
  }
}

std::string InsightText(const KnobDirection& kd, const Tally& tally) {
  const int n = tally.support + tally.contradict;
  if (tally.support == 0) {
    return absl::StrFormat("%s did not help (%d of %d trials hurt)", heuristic::ChangePhrase(kd.first, kd.second),
                           tally.contradict, n);
  }
  return absl::StrFormat("%s helped in %d of %d trials (mean %+.1f%%)", heuristic::ChangePhrase(kd.first, kd.second),
                         tally.support, n, 100 * tally.MeanGain());
}

// Tallies of every (knob, direction) over the one-change trials of the study.
std::map<KnobDirection, Tally> TallySteps(const Trajectory& t) {
  std::map<KnobDirection, Tally> out;
  for (size_t i = 0; i < t.steps().size(); ++i) {
    const Step& s = t.steps()[i];
    if (s.parent >= 0) Count(t, s, s.gain, t.history()[i].number(), out[{s.knob, s.direction}]);
  }
  return out;
}

std::vector<std::string> SearchOrder(const Trajectory& t) {
  std::vector<std::string> order;
  int best = -1;
  for (int i = 0; i < static_cast<int>(t.history().size()); ++i) {
    const int now = t.Best(i + 1);
    if (now == best || now != i) continue;
    best = now;
    const std::string& knob = t.steps()[static_cast<size_t>(i)].knob;
    const std::string name = knob.empty() ? "baseline" : knob == heuristic::kSeveralKnobs ? "transfer" : knob;
    if (std::find(order.begin(), order.end(), name) == order.end()) order.push_back(name);
  }
  return order;
}

std::vector<vmle::v1::CognitionRule> Rules(const PlanningContext& context, const std::map<KnobDirection, Tally>& tallies) {
  std::vector<vmle::v1::CognitionRule> rules;
  for (const auto& [kd, tally] : tallies) {
    if (tally.support == 0) continue;
    vmle::v1::CognitionRule r;
    r.set_knob(kd.first);
    r.set_direction(kd.second);
    r.set_condition(ConditionFor(context, kd.first));
    r.set_effect(tally.MeanGain());
    r.set_evidence_trials(tally.support);
    r.set_evidence_datasets(1);
    r.set_confidence(tally.Confidence());
    r.set_text(absl::StrFormat("%s helped %s (%+.1f%% over %d trials): %s", heuristic::ChangePhrase(kd.first, kd.second),
                               When(r.condition()), 100 * r.effect(), tally.support,
                               heuristic::MechanismOf(kd.first, kd.second)));
    rules.push_back(std::move(r));
  }
  std::stable_sort(rules.begin(), rules.end(), [](const auto& a, const auto& b) {
    return a.confidence() * a.effect() > b.confidence() * b.effect();
  });
  return rules;
}

std::vector<std::string> FailedAttempts(const Trajectory& t, const std::map<KnobDirection, Tally>& tallies) {
  std::vector<std::string> out;
  std::vector<KnobDirection> seen;
  for (size_t i = 0; i < t.steps().size(); ++i) {
    const Step& s = t.steps()[i];
    const KnobDirection kd{s.knob, s.direction};
    if (s.parent < 0 || !t.Hurt(s) || tallies.at(kd).support > 0) continue;
    if (std::find(seen.begin(), seen.end(), kd) != seen.end()) continue;
    seen.push_back(kd);
    out.push_back(absl::StrFormat("%s %s (%+.1f%% on trial %d)", s.knob, s.direction, 100 * s.gain,
                                  t.history()[i].number()));
  }
  return out;
}

std::string Prose(const PlanningContext& context, const Trajectory& t, const vmle::v1::CognitionSummary& s) {
  const std::string regime = context.profile.has_value() ? " (" + heuristic::LengthRegime(*context.profile) + ")" : "";
  std::string text = absl::StrFormat("On %s%s the best %s was %.6g after %d trials, reached along %s.",
                                     context.spec.dataset().name().empty() ? "this dataset" : context.spec.dataset().name(),
                                     regime, MetricName(context), s.best_value(), t.history().size(),
                                     absl::StrJoin(s.search_order(), " -> "));
  std::vector<std::string> rules;
  for (int i = 0; i < std::min(3, s.rules_size()); ++i) rules.push_back(s.rules(i).text());
  if (!rules.empty()) absl::StrAppend(&text, " Strongest levers: ", absl::StrJoin(rules, "; "), ".");
  if (s.failed_attempts_size() > 0) {
    absl::StrAppend(&text, " Did not help: ", absl::StrJoin(s.failed_attempts(), ", "), ".");
  }
  return text;
}

}  // namespace

absl::StatusOr<vmle::v1::Reflection> HeuristicReflection(const PlanningContext& context,
                                                         const vmle::v1::Trial& finished,
                                                         const HeuristicMemoryOptions& options) {
  auto [full, index] = WithFinished(context, finished);
  absl::StatusOr<Trajectory> t = Trajectory::Read(full, options.tie_epsilon);
  if (!t.ok()) return t.status();
  const Step& step = t->steps()[static_cast<size_t>(index)];
  vmle::v1::Reflection r;
  r.set_trial_number(finished.number());
  r.set_observation(Observation(full, *t, index));
  FillJudgement(full, *t, step, &r);
  r.set_knob(step.knob == heuristic::kSeveralKnobs ? finished.proposal().changed_dimension() : step.knob);
  if (r.knob().empty() && step.knob == heuristic::kSeveralKnobs) r.set_knob(heuristic::kSeveralKnobs);
  r.set_relative_gain(step.gain);
  r.set_author("heuristic");
  return r;
}

absl::StatusOr<vmle::v1::WorkingInsights> HeuristicInsights(const PlanningContext& context,
                                                            const HeuristicMemoryOptions& options) {
  absl::StatusOr<Trajectory> t = Trajectory::Read(context, options.tie_epsilon);
  if (!t.ok()) return t.status();
  std::map<int, int> by_number;
  for (size_t i = 0; i < t->history().size(); ++i) by_number[t->history()[i].number()] = static_cast<int>(i);
  std::map<KnobDirection, Tally> tallies;
  for (const vmle::v1::Reflection& r : context.reflections) {
    auto it = by_number.find(r.trial_number());
    if (it == by_number.end()) continue;
    const Step& s = t->steps()[static_cast<size_t>(it->second)];
    if (s.parent >= 0) Count(*t, s, r.relative_gain(), r.trial_number(), tallies[{s.knob, s.direction}]);
  }
  std::vector<std::pair<KnobDirection, Tally>> ranked(tallies.begin(), tallies.end());
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return Stronger(a.second, b.second); });
  vmle::v1::WorkingInsights out;
  for (const auto& [kd, tally] : ranked) {
    if (tally.support + tally.contradict == 0) continue;
    if (out.insights_size() >= options.max_insights) break;
    vmle::v1::Insight* insight = out.add_insights();
    insight->set_text(InsightText(kd, tally) + " " + When(ConditionFor(context, kd.first)));
    insight->set_knob(kd.first);
    insight->set_direction(kd.second);
    insight->set_support(tally.support);
    insight->set_contradict(tally.contradict);
    insight->set_confidence(tally.Confidence());
  }
  if (!context.reflections.empty()) out.set_through_trial(context.reflections.back().trial_number());
  return out;
}

absl::StatusOr<vmle::v1::CognitionSummary> HeuristicSummary(const PlanningContext& context,
                                                            const HeuristicMemoryOptions& options) {
  absl::StatusOr<Trajectory> t = Trajectory::Read(context, options.tie_epsilon);
  if (!t.ok()) return t.status();
  const int best = t->Best();
  if (best < 0) return absl::FailedPreconditionError("no trial of the study succeeded; nothing to distill");
  const std::map<KnobDirection, Tally> tallies = TallySteps(*t);
  vmle::v1::CognitionSummary s;
  s.set_dataset_name(context.spec.dataset().name());
  s.set_backbone(context.spec.backbone());
  for (vmle::v1::CognitionRule& r : Rules(context, tallies)) *s.add_rules() = std::move(r);
  for (std::string& d : SearchOrder(*t)) s.add_search_order(std::move(d));
  for (std::string& f : FailedAttempts(*t, tallies)) s.add_failed_attempts(std::move(f));
  *s.mutable_best_config() = t->history()[static_cast<size_t>(best)].config();
  s.set_best_value(t->history()[static_cast<size_t>(best)].objective_value());
  if (context.profile.has_value()) *s.mutable_dataset_profile() = *context.profile;
  s.set_objective_metric(context.spec.objective().metric());
  s.set_prose(Prose(context, *t, s));
  return s;
}

}  // namespace vmle::agent
