#include "services/agent/planner/llm/llm_prompts.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/space/space_proto.h"
#include "nlohmann/json.hpp"
#include "services/agent/evidence/evidence.h"
#include "services/agent/planner/space_sampling.h"

namespace vmle::agent {
namespace {

using nlohmann::json;
using vmle::v1::Trial;

// Trials shown to opro, the best ones (Yang et al. keep the top 20).
constexpr size_t kOproTrajectory = 20;

constexpr char kProposalFormat[] =
    R"({"proposals": [{"hypothesis": "...", "changed_dimension": "<parameter>", "expected_mechanism": "...", )"
    R"("risk": "...", "rollback": "...", "configuration": {"<parameter>": <value>, ...}}]})";

std::string MetricName(vmle::v1::Metric metric) {
  switch (metric) {
    case vmle::v1::METRIC_RECALL_AT_5: return "Recall@5";
    case vmle::v1::METRIC_RECALL_AT_10: return "Recall@10";
    case vmle::v1::METRIC_RECALL_AT_20: return "Recall@20";
    case vmle::v1::METRIC_NDCG_AT_5: return "NDCG@5";
    case vmle::v1::METRIC_NDCG_AT_20: return "NDCG@20";
    case vmle::v1::METRIC_MRR: return "MRR";
    default: return "NDCG@10";
  }
}

double MetricOf(const vmle::v1::MetricValues& v, vmle::v1::Metric metric) {
  switch (metric) {
    case vmle::v1::METRIC_RECALL_AT_5: return v.recall_at_5();
    case vmle::v1::METRIC_RECALL_AT_10: return v.recall_at_10();
    case vmle::v1::METRIC_RECALL_AT_20: return v.recall_at_20();
    case vmle::v1::METRIC_NDCG_AT_5: return v.ndcg_at_5();
    case vmle::v1::METRIC_NDCG_AT_20: return v.ndcg_at_20();
    case vmle::v1::METRIC_MRR: return v.mrr();
    default: return v.ndcg_at_10();
  }
}

bool Minimise(const vmle::v1::StudySpec& spec) {
  return spec.objective().direction() == vmle::v1::DIRECTION_MINIMIZE;
}

bool Finished(const Trial& t) {
  return t.status() == vmle::v1::TRIAL_STATUS_SUCCEEDED || t.status() == vmle::v1::TRIAL_STATUS_STOPPED;
}

std::string Number(double v) { return absl::StrFormat("%.6g", v); }

json JsonValue(const vmle::v1::ParamValue& v) {
  switch (v.kind_case()) {
    case vmle::v1::ParamValue::kIntValue: return v.int_value();
    case vmle::v1::ParamValue::kFloatValue: return v.float_value();
    case vmle::v1::ParamValue::kBoolValue: return v.bool_value();
    default: return v.categorical_value();
  }
}

// The configuration as a JSON object in space order; with `changes_only`, only the
// parameters that differ from their defaults.
std::string ConfigText(const space::SearchSpace& space, const vmle::v1::Configuration& config, bool changes_only) {
  json out = json::object();
  for (const space::ParamSpec& p : space.params) {
    const vmle::v1::ParamValue v = ValueOf(p, config);
    if (changes_only && space::SameValue(v, DefaultValue(p))) continue;
    out[p.name] = JsonValue(v);
  }
  return out.dump();
}

std::string DomainText(const space::ParamSpec& p) {
  switch (p.type) {
    case space::ParamType::kInt:
      return absl::StrCat("int in [", Number(p.min), ", ", Number(p.max), "]", p.log_scale ? ", log scale" : "",
                          p.step > 0 ? absl::StrCat(", multiple of ", p.step, " above the minimum") : "");
    case space::ParamType::kFloat:
      return absl::StrCat("float in [", Number(p.min), ", ", Number(p.max), "]", p.log_scale ? ", log scale" : "");
    case space::ParamType::kCategorical:
      return absl::StrCat("one of \"", absl::StrJoin(p.choices, "\", \""), "\"");
    case space::ParamType::kBool:
      return "true or false";
  }
  return "";
}

std::string SpaceSection(const space::SearchSpace& space) {
  std::string out = "## Search space\n";
  for (const space::ParamSpec& p : space.params) {
    absl::StrAppend(&out, "- ", p.name, ": ", DomainText(p), "; default ", space::ValueText(p.default_value), ".");
    if (!p.description.empty()) absl::StrAppend(&out, " ", p.description);
    if (!p.condition_param.empty()) absl::StrAppend(&out, " (only when ", p.condition_param, " = ", p.condition_value, ")");
    out += "\n";
  }
  return out;
}

std::string FixedSection(const vmle::v1::StudySpec& spec) {
  if (spec.fixed().values().empty()) return "";
  std::vector<std::string> items;
  for (const auto& [name, value] : spec.fixed().values()) items.push_back(name + "=" + space::ValueText(value));
  std::sort(items.begin(), items.end());
  return "## Fixed for every trial (not yours to change)\n" + absl::StrJoin(items, ", ") + "\n";
}

// What holds on short-history data, as the heuristic's priors say it.
constexpr char kShortHistoryHint[] =
    "Histories are short (mean length < 10): the training-split priors are often among the strongest levers "
    "here: the item-transition prior (transition_prior_weight, from prior_recent_k items), the item "
    "co-occurrence prior (itemcf_prior_weight with itemcf_window, itemcf_topk, itemcf_norm) and popularity, "
    "blended into all scores or only re-ranking the model's top rerank_topk items (rerank_*_weight).\n";

std::string ProfileSection(const PlanningContext& context) {
  if (!context.profile.has_value()) return "## Dataset profile\nnot profiled yet\n";
  const vmle::v1::DatasetProfile& p = *context.profile;
  return absl::StrCat("## Dataset profile\nusers ", p.num_users(), ", items ", p.num_items(), ", interactions ",
                      p.num_interactions(), ", mean length ", Number(p.mean_length()), ", median length ",
                      Number(p.median_length()), ", max length ", p.max_length(), ", density ",
                      Number(p.density()), ", popularity Gini ", Number(p.popularity_gini()),
                      ", top-1% items' share ", Number(p.top1pct_share()), "\n",
                      p.mean_length() < 10 ? kShortHistoryHint : "");
}

std::string Outcome(const Trial& t) {
  switch (t.status()) {
    case vmle::v1::TRIAL_STATUS_SUCCEEDED: return Number(t.objective_value());
    case vmle::v1::TRIAL_STATUS_STOPPED: return Number(t.objective_value()) + " (stopped early)";
    default: return "failed" + (t.failure_cause().empty() ? "" : " (" + t.failure_cause() + ")");
  }
}

std::string TrialTable(const PlanningContext& context, const space::SearchSpace& space) {
  std::string out = absl::StrCat("## Trials (", ObjectiveText(context.spec),
                                 "; configuration shown as changes from the defaults)\n");
  if (context.history.empty()) return out + "none yet\n";
  out += "| # | objective | changed | configuration |\n|---|---|---|---|\n";
  for (const Trial& t : context.history) {
    absl::StrAppend(&out, "| ", t.number(), " | ", Outcome(t), " | ", t.proposal().changed_dimension(), " | ",
                    ConfigText(space, t.config(), true), " |\n");
  }
  return out;
}

std::string PendingSection(const PlanningContext& context, const space::SearchSpace& space) {
  if (context.pending.empty()) return "";
  std::string out = "## Running now (do not propose these again)\n";
  for (const Trial& t : context.pending) {
    absl::StrAppend(&out, "- trial ", t.number(), ": ", ConfigText(space, t.config(), true), "\n");
  }
  return out;
}

std::string BestSection(const PlanningContext& context, const space::SearchSpace& space) {
  const Trial* best = BestTrial(context);
  if (best == nullptr) return "## Current best\nnone yet: start from the default configuration\n";
  std::string out = absl::StrCat("## Current best\ntrial ", best->number(), ", ", ObjectiveText(context.spec), " = ",
                                 Number(best->objective_value()), ", configuration ",
                                 ConfigText(space, best->config(), false), "\n");
  // The seed noise, so that a difference is read against it.
  const evidence::StudyEvidence e =
      evidence::StudyEvidence::Read(context.history, context.spec.objective().direction(), evidence::Options{});
  if (e.noise().degrees_of_freedom() > 0) {
    absl::StrAppend(&out, "Seed noise of this study: sd ", Number(e.noise().sd()), " (", Number(100 * e.noise().relative_sd()),
                    "% of the mean, ", e.noise().degrees_of_freedom(),
                    " degrees of freedom); a difference smaller than about twice that is no clear difference.\n");
  }
  return out;
}

std::string MemorySections(const PlanningContext& context) {
  std::string out;
  if (!context.reflections.empty()) {
    out += "## Reflections on earlier trials\n";
    for (const vmle::v1::Reflection& r : context.reflections) {
      absl::StrAppend(&out, "- trial ", r.trial_number(), ": ", r.observation(), " Why: ", r.explanation(),
                      " Rule: ", r.generalized_rule(), " Next: ", r.next_action(), "\n");
    }
  }
  if (!context.insights.insights().empty()) {
    out += "## Working insights of this study\n";
    for (const vmle::v1::Insight& i : context.insights.insights()) {
      absl::StrAppend(&out, "- ", i.text(), " [", i.knob(), " ", i.direction(), ", effect ", Number(i.effect()),
                      ", 95% interval ", Number(i.effect_low()), " to ", Number(i.effect_high()), ", ",
                      i.comparisons(), " comparisons, ", i.clear() ? "clear" : "no clear effect",
                      ", confidence ", Number(i.confidence()), "]\n");
    }
  }
  for (const vmle::v1::CognitionSummary& s : context.recalled) {
    absl::StrAppend(&out, "## Knowledge from a study on ", s.dataset_name(), " (mean length ",
                    Number(s.dataset_profile().mean_length()), ")\n", s.prose(), "\n");
    for (const vmle::v1::CognitionRule& r : s.rules()) {
      absl::StrAppend(&out, "- ", r.knob(), " -> ", r.direction(), r.condition().empty() ? "" : " when " + r.condition(),
                      ": effect ", Number(r.effect()), " (95% interval ", Number(r.effect_low()), " to ",
                      Number(r.effect_high()), ", ", r.comparisons(), " comparisons, measured on ",
                      r.sources().empty() ? s.dataset_name() : absl::StrJoin(r.sources(), ", "), "), confidence ",
                      Number(r.confidence()), ". ", r.text(), "\n");
    }
    if (s.search_order_size() > 0) absl::StrAppend(&out, "Search order that worked: ", absl::StrJoin(s.search_order(), " -> "), "\n");
    if (s.failed_attempts_size() > 0) absl::StrAppend(&out, "Failed there: ", absl::StrJoin(s.failed_attempts(), "; "), "\n");
  }
  return out;
}

std::string SystemText(const space::SearchSpace& space) {
  return absl::StrCat(
      "You are an experienced machine learning engineer tuning a ", std::string(space::BackboneName(space.backbone)),
      " sequential recommender. Follow this protocol: the first trial is the plain default configuration; after "
      "that change one dimension of the current best per proposal, keep a change only if the validation objective "
      "improves, prefer the simpler configuration on ties, and move to an untried dimension when the last rounds "
      "stayed on one or two parameters. Answer with one JSON object and nothing else.");
}

}  // namespace

std::string ObjectiveText(const vmle::v1::StudySpec& spec) {
  return absl::StrCat("val ", MetricName(spec.objective().metric()), Minimise(spec) ? " (minimise)" : " (maximise)");
}

const Trial* BestTrial(const PlanningContext& context) {
  const Trial* best = nullptr;
  const bool minimise = Minimise(context.spec);
  for (const Trial& t : context.history) {
    if (!Finished(t)) continue;
    if (best == nullptr || (minimise ? t.objective_value() < best->objective_value()
                                     : t.objective_value() > best->objective_value())) {
      best = &t;
    }
  }
  return best;
}

std::vector<llm::ChatMessage> LlmProposeMessages(const PlanningContext& context, const space::SearchSpace& space,
                                                 int wanted) {
  std::string user = absl::StrCat("## Objective\n", ObjectiveText(context.spec), "; trial budget ",
                                  context.spec.budget().max_trials(), ", trials so far ",
                                  context.history.size() + context.pending.size(), "\n");
  absl::StrAppend(&user, ProfileSection(context), SpaceSection(space), FixedSection(context.spec),
                  BestSection(context, space), TrialTable(context, space), PendingSection(context, space),
                  MemorySections(context));
  absl::StrAppend(&user, "## Task\nPropose ", wanted, " new trial(s). Reply with JSON:\n", kProposalFormat,
                  "\nParameters you leave out of a configuration keep the current best's value (the default when "
                  "there is no best). Values must lie inside the search space; never repeat a configuration "
                  "above.\n");
  return {{"system", SystemText(space)}, {"user", user}};
}

std::vector<llm::ChatMessage> OproProposeMessages(const PlanningContext& context, const space::SearchSpace& space,
                                                  int wanted) {
  const bool minimise = Minimise(context.spec);
  std::vector<const Trial*> scored;
  for (const Trial& t : context.history) {
    if (Finished(t)) scored.push_back(&t);
  }
  // Best first to cut the trajectory, then worst first as the meta-prompt shows it.
  std::stable_sort(scored.begin(), scored.end(), [&](const Trial* a, const Trial* b) {
    return minimise ? a->objective_value() < b->objective_value() : a->objective_value() > b->objective_value();
  });
  if (scored.size() > kOproTrajectory) scored.resize(kOproTrajectory);
  std::reverse(scored.begin(), scored.end());
  std::string user = absl::StrCat(
      "Your task is to find a configuration of a ", std::string(space::BackboneName(space.backbone)),
      " sequential recommender with the ", minimise ? "lowest" : "highest", " score, the ",
      ObjectiveText(context.spec), ". Below are earlier configurations with their scores, in ascending order of "
      "quality (the best last).\n\n");
  for (const Trial* t : scored) {
    absl::StrAppend(&user, "configuration: ", ConfigText(space, t->config(), false), "\nscore: ",
                    Number(t->objective_value()), "\n\n");
  }
  absl::StrAppend(&user, SpaceSection(space), FixedSection(context.spec), PendingSection(context, space));
  absl::StrAppend(&user, "\nGive ", wanted, " new configuration(s) that differ from all configurations above and ",
                  "have a score as ", minimise ? "low" : "high", " as possible. Reply with JSON only:\n",
                  R"({"proposals": [{"configuration": {"<parameter>": <value>, ...}}]})",
                  "\nParameters you leave out take their defaults.\n");
  return {{"user", user}};
}

std::vector<llm::ChatMessage> ReflectMessages(const PlanningContext& context, const space::SearchSpace& space,
                                              const Trial& finished) {
  std::string curve;
  for (const vmle::v1::EpochMetrics& e : finished.epochs()) {
    absl::StrAppend(&curve, curve.empty() ? "" : ", ", e.epoch(), ":",
                    Number(MetricOf(e.validation(), context.spec.objective().metric())));
  }
  std::string user = absl::StrCat("## Objective\n", ObjectiveText(context.spec), "\n", ProfileSection(context),
                                  TrialTable(context, space), MemorySections(context));
  absl::StrAppend(&user, "## Trial to reflect on\ntrial ", finished.number(), ": ", Outcome(finished),
                  "; changed ", finished.proposal().changed_dimension(), "; hypothesis: ",
                  finished.proposal().hypothesis(), "; configuration ", ConfigText(space, finished.config(), true),
                  curve.empty() ? "" : "; validation objective by epoch " + curve, "\n");
  absl::StrAppend(&user, "## Task\nReflect on this trial. Reply with JSON: ",
                  R"({"observation": "what happened", "explanation": "why it probably happened", )"
                  R"("generalized_rule": "a rule beyond this study", "next_action": "what to try next"})",
                  "\n");
  return {{"system", SystemText(space)}, {"user", user}};
}

std::vector<llm::ChatMessage> DistillMessages(const PlanningContext& context, const space::SearchSpace& space) {
  std::string user = absl::StrCat("## Objective\n", ObjectiveText(context.spec), "\n", ProfileSection(context),
                                  SpaceSection(space), BestSection(context, space), TrialTable(context, space),
                                  MemorySections(context));
  absl::StrAppend(
      &user, "## Task\nThe study is over. Distill what it taught into a cognition summary that helps the next "
             "study on a different dataset. Reply with JSON: ",
      R"({"prose": "...", "rules": [{"knob": "<parameter>", "direction": "up|down|<value>", )"
      R"("condition": "e.g. mean_length < 10", "effect": <relative gain, 0.04 = +4%>, "evidence_trials": <n>, )"
      R"("confidence": <0..1>, "text": "..."}], "search_order": ["baseline", "<parameter>", ...], )"
      R"("failed_attempts": ["..."]})",
      "\n");
  return {{"system", SystemText(space)}, {"user", user}};
}

std::string RepairMessage(const std::string& error, int accepted, int still_wanted) {
  std::string out = "Your reply could not be used: " + error + "\n";
  if (accepted > 0) absl::StrAppend(&out, accepted, " proposal(s) were accepted. Propose ", still_wanted, " more. ");
  return out + "Reply again with only the JSON object described above.";
}

}  // namespace vmle::agent
