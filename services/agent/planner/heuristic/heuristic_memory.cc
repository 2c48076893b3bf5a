#include "services/agent/planner/heuristic/heuristic_memory.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/space/space_proto.h"
#include "services/agent/planner/heuristic/heuristic_knowledge.h"
#include "services/agent/planner/heuristic/heuristic_trajectory.h"
#include "services/agent/planner/space_sampling.h"

namespace vmle::agent {
namespace {

using heuristic::Step;
using heuristic::Trajectory;

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

evidence::Options EvidenceOptions(const PlanningContext& context, const HeuristicMemoryOptions& options) {
  return heuristic::StudyEvidenceOptions(context, options.noise_prior, options.max_seeds);
}

// The context's history with `finished` as its newest trial, and its index there.
std::pair<PlanningContext, int> WithFinished(const PlanningContext& context, const vmle::v1::Trial& finished) {
  PlanningContext c = context;
  for (size_t i = 0; i < c.history.size(); ++i) {
    if (c.history[i].number() == finished.number()) return {std::move(c), static_cast<int>(i)};
  }
  c.history.push_back(finished);
  return {std::move(c), static_cast<int>(c.history.size()) - 1};
}

// The study's seed noise, as a phrase.
std::string NoiseText(const Trajectory& t) {
  const vmle::v1::NoiseEstimate& n = t.evidence().noise();
  if (n.degrees_of_freedom() == 0) {
    return absl::StrFormat("seed noise not measured yet (assumed %.1f%%)", 100 * t.evidence().RelativeSd());
  }
  return absl::StrFormat("seed noise %.1f%% (%d replicated configuration%s, %d degree%s of freedom)",
                         100 * n.relative_sd(), n.configurations(), n.configurations() == 1 ? "" : "s",
                         n.degrees_of_freedom(), n.degrees_of_freedom() == 1 ? "" : "s");
}

// The effect of one step against its parent, with the study's noise.
evidence::Effect StepEffect(const Trajectory& t, const Step& step) {
  return evidence::EffectOf({step.gain}, t.evidence().RelativeSd(), step.paired);
}

std::string Observation(const PlanningContext& context, const Trajectory& t, int index) {
  const vmle::v1::Trial& trial = t.history()[static_cast<size_t>(index)];
  const Step& step = t.steps()[static_cast<size_t>(index)];
  const std::string metric = MetricName(context);
  if (step.failed) {
    return absl::StrCat("trial ", trial.number(), " failed",
                        trial.failure_cause().empty() ? "" : " (" + trial.failure_cause() + ")");
  }
  if (step.replicate_of >= 0) {
    return absl::StrFormat("%s %.6g: a replicate, so its configuration is now %s; %s", metric,
                           trial.objective_value(), t.Describe(step.replicate_of), NoiseText(t));
  }
  const int best = t.Best(index);
  if (best < 0) return absl::StrFormat("%s %.6g on the first trial that finished", metric, trial.objective_value());
  std::string text = absl::StrFormat("%s %.6g against the best, %s", metric, trial.objective_value(),
                                     t.Describe(best));
  if (step.parent >= 0) {
    const int parent = t.history()[static_cast<size_t>(step.parent)].number();
    absl::StrAppendFormat(&text, "; %s from %s to %s changed it by %s against trial %d%s (%s)",
                          heuristic::ChangePhrase(step.knob, step.direction), step.from_value, step.to_value,
                          StepEffect(t, step).Text(), parent, step.paired ? " on the same seed" : "",
                          NoiseText(t));
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
  const std::string best_trial = best < 0 ? "the baseline" : t.Describe(best);
  if (step.replicate_of >= 0) {
    r->set_explanation("a replicate measures how much the objective moves between seeds");
    r->set_generalized_rule("judge a change only by a gain beyond the seed noise, on the same seeds");
    r->set_next_action("continue from " + best_trial);
    return;
  }
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
  const evidence::Effect effect = StepEffect(t, step);
  if (!step.failed && effect.Clear() && effect.mean > 0) {
    r->set_explanation("consistent with the expected mechanism: " + heuristic::MechanismOf(step.knob, step.direction));
    r->set_generalized_rule(absl::StrCat(change, " helps ", when));
    r->set_next_action(numeric ? "continue " + change + " with the same or a larger step"
                               : "keep " + step.knob + " = " + step.direction + " and move to the next dimension");
  } else if (step.failed || (effect.Clear() && effect.mean < 0)) {
    r->set_explanation(step.failed ? "the run failed: " + heuristic::RiskOf(step.knob, step.direction)
                                   : "the risk outweighed the mechanism: " +
                                         heuristic::RiskOf(step.knob, step.direction));
    r->set_generalized_rule(absl::StrCat(change, " hurts ", when));
    r->set_next_action("roll back to " + best_trial + (numeric ? "; try the other direction of " + step.knob +
                                                                     " or the next dimension"
                                                               : " and try the next dimension"));
  } else {
    r->set_explanation(absl::StrCat("no clear effect: ", effect.Text(), " is inside the seed noise"));
    r->set_generalized_rule(absl::StrCat("no clear effect of ", change, " ", when, " from one comparison"));
    r->set_next_action("keep " + best_trial + "; a gain inside the noise is confirmed on more seeds before it counts");
  }
}

// What the study measured about moving one knob one way: every comparison of a
// one-change configuration with its parent on their shared seeds (one sample per
// seed, or a difference of means where they share none). Moves from the knob's
// default are kept apart from moves of an already tuned value: only the former say
// what to do on a new dataset, which starts at the defaults. Raising and lowering a
// knob from its default that both clearly helped contradict each other: neither is a
// rule.
struct Statement {
  std::string knob;
  std::string direction;
  bool from_default = true;
  std::vector<double> samples;
  bool paired = true;
  int failures = 0;
  std::vector<int> trials;
  evidence::Effect effect;
  bool contradicted = false;

  int Support(double tie) const {
    return static_cast<int>(std::count_if(samples.begin(), samples.end(), [&](double d) { return d > tie; }));
  }
  int Contradict(double tie) const {
    return failures +
           static_cast<int>(std::count_if(samples.begin(), samples.end(), [&](double d) { return d < -tie; }));
  }
  double Confidence(double tie) const {
    const double c = (Support(tie) + 1.0) / (static_cast<double>(samples.size()) + failures + 2.0);
    return contradicted ? c / 2 : c;
  }
  // A rule to carry to another dataset.
  bool Rule() const { return from_default && !contradicted && effect.Clear() && effect.mean > 0; }
  // A change not to try first: a clear loss from the default, or only failures.
  bool Failed() const {
    return from_default && ((samples.empty() && failures > 0) || (effect.Clear() && effect.mean < 0));
  }
};

using StatementKey = std::tuple<std::string, std::string, bool>;

std::map<StatementKey, Statement> Measure(const Trajectory& t) {
  std::map<StatementKey, Statement> out;
  const evidence::StudyEvidence& e = t.evidence();
  for (size_t i = 0; i < t.steps().size(); ++i) {
    const Step& s = t.steps()[i];
    if (s.parent < 0 || s.replicate_of >= 0) continue;
    const space::ParamSpec* param = t.space().Find(s.knob);
    const bool from_default =
        param != nullptr && s.from_value == space::ValueText(DefaultValue(*param));
    Statement& st = out[{s.knob, s.direction, from_default}];
    st.knob = s.knob;
    st.direction = s.direction;
    st.from_default = from_default;
    st.trials.push_back(t.history()[i].number());
    const int g = e.GroupOf(static_cast<int>(i));
    const int pg = e.GroupOf(s.parent);
    if (g < 0 || pg < 0 || e.groups()[static_cast<size_t>(g)].Finished() == 0) {
      ++st.failures;
      continue;
    }
    bool paired = false;
    for (double d : e.Differences(g, pg, &paired)) st.samples.push_back(d);
    st.paired = st.paired && paired;
  }
  for (auto& [key, st] : out) st.effect = evidence::EffectOf(st.samples, e.RelativeSd(), st.paired);
  for (auto& [key, st] : out) {
    if (st.direction != "up" || !st.from_default) continue;
    auto down = out.find({st.knob, "down", true});
    if (down == out.end()) continue;
    const bool both = st.effect.Clear() && st.effect.mean > 0 && down->second.effect.Clear() && down->second.effect.mean > 0;
    st.contradicted = down->second.contradicted = both;
  }
  return out;
}

// "raising dropout helped: +2.3% ± 1.1% (3 paired seeds)", "... no clear effect (...)".
std::string StatementText(const Statement& st) {
  const std::string change =
      heuristic::ChangePhrase(st.knob, st.direction) + (st.from_default ? "" : " (from a tuned value)");
  if (st.samples.empty()) return absl::StrFormat("%s failed (%d of %d trials)", change, st.failures, st.failures);
  const std::string failures = st.failures > 0 ? absl::StrFormat("; %d failed", st.failures) : "";
  if (st.contradicted) {
    return absl::StrFormat("%s helped (%s), and so did the opposite: no clear direction%s", change, st.effect.Text(),
                           failures);
  }
  if (!st.effect.Clear()) return absl::StrFormat("%s: no clear effect (%s%s)", change, st.effect.Text(), failures);
  return absl::StrFormat("%s %s: %s%s", change, st.effect.mean > 0 ? "helped" : "hurt", st.effect.Text(), failures);
}

// Strongest first: rules by their lower bound, then clear losses, then the rest by
// their evidence; moves from the default before moves of tuned values.
bool Stronger(const Statement& a, const Statement& b) {
  auto rank = [](const Statement& s) {
    return s.Rule() ? 0 : (s.effect.Clear() && s.effect.mean < 0 && !s.contradicted) ? 1 : 2;
  };
  if (rank(a) != rank(b)) return rank(a) < rank(b);
  if (a.from_default != b.from_default) return a.from_default;
  if (rank(a) == 0) return a.effect.low > b.effect.low;
  if (a.samples.size() != b.samples.size()) return a.samples.size() > b.samples.size();
  return std::abs(a.effect.mean) > std::abs(b.effect.mean);
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

// The rules of the summary: moves from the default whose interval excludes zero on
// the gain side and that no opposite move contradicts; the datasets of recalled rules
// that agree are added to its sources.
std::vector<vmle::v1::CognitionRule> Rules(const PlanningContext& context,
                                           const std::map<StatementKey, Statement>& statements, double tie) {
  std::vector<vmle::v1::CognitionRule> rules;
  for (const auto& [key, st] : statements) {
    if (!st.Rule()) continue;
    const evidence::Effect& e = st.effect;
    vmle::v1::CognitionRule r;
    r.set_knob(st.knob);
    r.set_direction(st.direction);
    r.set_condition(ConditionFor(context, st.knob));
    r.set_effect(e.mean);
    r.set_effect_low(e.low);
    r.set_effect_high(e.high);
    r.set_comparisons(e.comparisons);
    r.set_evidence_trials(static_cast<int>(st.trials.size()));
    r.set_confidence(st.Confidence(tie));
    std::set<std::string> sources;
    sources.insert(context.spec.dataset().name().empty() ? "this dataset" : context.spec.dataset().name());
    for (const vmle::v1::CognitionSummary& recalled : context.recalled) {
      for (const vmle::v1::CognitionRule& old : recalled.rules()) {
        if (old.knob() != r.knob() || old.direction() != r.direction()) continue;
        for (const std::string& source : old.sources()) sources.insert(source);
        if (old.sources().empty() && !recalled.dataset_name().empty()) sources.insert(recalled.dataset_name());
      }
    }
    for (const std::string& source : sources) r.add_sources(source);
    r.set_evidence_datasets(static_cast<int>(sources.size()));
    r.set_text(absl::StrFormat("%s helped %s: %s: %s", heuristic::ChangePhrase(st.knob, st.direction),
                               When(r.condition()), e.Text(), heuristic::MechanismOf(st.knob, st.direction)));
    rules.push_back(std::move(r));
  }
  std::stable_sort(rules.begin(), rules.end(), [](const auto& a, const auto& b) { return a.effect_low() > b.effect_low(); });
  return rules;
}

std::vector<std::string> FailedAttempts(const std::map<StatementKey, Statement>& statements) {
  std::vector<std::string> out;
  for (const auto& [key, st] : statements) {
    if (!st.Failed()) continue;
    out.push_back(st.samples.empty() ? absl::StrFormat("%s %s (failed %d times)", st.knob, st.direction, st.failures)
                                     : absl::StrFormat("%s %s (%s)", st.knob, st.direction, st.effect.Text()));
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
  const Trajectory t = Trajectory::Read(full, options.tie_epsilon, EvidenceOptions(full, options));
  const Step& step = t.steps()[static_cast<size_t>(index)];
  vmle::v1::Reflection r;
  r.set_trial_number(finished.number());
  r.set_observation(Observation(full, t, index));
  FillJudgement(full, t, step, &r);
  r.set_knob(step.knob == heuristic::kSeveralKnobs ? finished.proposal().changed_dimension() : step.knob);
  if (r.knob().empty() && step.knob == heuristic::kSeveralKnobs) r.set_knob(heuristic::kSeveralKnobs);
  r.set_relative_gain(step.gain);
  r.set_author("heuristic");
  return r;
}

absl::StatusOr<vmle::v1::WorkingInsights> HeuristicInsights(const PlanningContext& context,
                                                            const HeuristicMemoryOptions& options) {
  const Trajectory t = Trajectory::Read(context, options.tie_epsilon, EvidenceOptions(context, options));
  const std::map<StatementKey, Statement> statements = Measure(t);
  // One insight per knob: its strongest statement, with the rest of its evidence.
  std::map<std::string, std::vector<const Statement*>> by_knob;
  for (const auto& [key, st] : statements) by_knob[st.knob].push_back(&st);
  std::vector<std::vector<const Statement*>> knobs;
  for (auto& [knob, list] : by_knob) {
    // Moves from the default lead: they are what another dataset would try.
    std::stable_sort(list.begin(), list.end(), [](const Statement* a, const Statement* b) {
      if (a->from_default != b->from_default) return a->from_default;
      return Stronger(*a, *b);
    });
    knobs.push_back(list);
  }
  std::stable_sort(knobs.begin(), knobs.end(), [](const auto& a, const auto& b) { return Stronger(*a[0], *b[0]); });
  vmle::v1::WorkingInsights out;
  for (const std::vector<const Statement*>& list : knobs) {
    if (out.insights_size() >= options.max_insights) break;
    const Statement& st = *list[0];
    const evidence::Effect& e = st.effect;
    std::vector<std::string> texts;
    for (const Statement* other : list) texts.push_back(StatementText(*other));
    vmle::v1::Insight* insight = out.add_insights();
    insight->set_text(absl::StrJoin(texts, "; ") + " " + When(ConditionFor(context, st.knob)));
    insight->set_knob(st.knob);
    insight->set_direction(st.direction);
    insight->set_support(st.Support(options.tie_epsilon));
    int contradict = st.Contradict(options.tie_epsilon);
    for (size_t i = 1; i < list.size(); ++i) contradict += list[i]->Support(options.tie_epsilon) * list[i]->contradicted;
    insight->set_contradict(contradict);
    insight->set_confidence(st.Confidence(options.tie_epsilon));
    insight->set_comparisons(e.comparisons);
    insight->set_effect(e.mean);
    insight->set_effect_low(e.low);
    insight->set_effect_high(e.high);
    insight->set_clear(e.Clear() && !st.contradicted);
  }
  if (!context.reflections.empty()) out.set_through_trial(context.reflections.back().trial_number());
  return out;
}

absl::StatusOr<vmle::v1::CognitionSummary> HeuristicSummary(const PlanningContext& context,
                                                            const HeuristicMemoryOptions& options) {
  const Trajectory t = Trajectory::Read(context, options.tie_epsilon, EvidenceOptions(context, options));
  const int best = t.Best();
  if (best < 0) return absl::FailedPreconditionError("no trial of the study succeeded; nothing to distill");
  const std::map<StatementKey, Statement> statements = Measure(t);
  vmle::v1::CognitionSummary s;
  s.set_dataset_name(context.spec.dataset().name());
  s.set_backbone(context.spec.backbone());
  for (vmle::v1::CognitionRule& r : Rules(context, statements, options.tie_epsilon)) *s.add_rules() = std::move(r);
  for (std::string& d : SearchOrder(t)) s.add_search_order(std::move(d));
  for (std::string& f : FailedAttempts(statements)) s.add_failed_attempts(std::move(f));
  *s.mutable_best_config() = t.history()[static_cast<size_t>(best)].config();
  // The best configuration's mean over its seeds.
  const evidence::Group& group = t.evidence().groups()[static_cast<size_t>(t.evidence().GroupOf(best))];
  s.set_best_value(context.spec.objective().direction() == vmle::v1::DIRECTION_MINIMIZE ? -group.Mean()
                                                                                       : group.Mean());
  if (context.profile.has_value()) *s.mutable_dataset_profile() = *context.profile;
  s.set_objective_metric(context.spec.objective().metric());
  s.set_prose(Prose(context, t, s));
  return s;
}

}  // namespace vmle::agent
