#include "services/agent/study/report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/space/space_proto.h"
#include "services/agent/evidence/evidence.h"
#include "services/agent/study/internal/ranking.h"
#include "services/agent/study/objective.h"

namespace vmle::agent {
namespace {

using vmle::v1::Trial;

bool HasResult(const Trial& t) {
  return (t.status() == vmle::v1::TRIAL_STATUS_SUCCEEDED || t.status() == vmle::v1::TRIAL_STATUS_STOPPED) &&
         t.best_epoch() > 0;
}

std::string StatusLabel(vmle::v1::TrialStatus s) {
  std::string name = vmle::v1::TrialStatus_Name(s);
  name = name.substr(name.rfind('_') + 1);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  return name;
}

// Table cells may not contain pipes or line breaks.
std::string Cell(const std::string& text) {
  return absl::StrReplaceAll(text, {{"|", "\\|"}, {"\n", " "}});
}

std::string ConfigText(const vmle::v1::Configuration& config) {
  std::vector<std::string> parts;
  for (const auto& [name, value] : space::ToSettings(config)) parts.push_back(absl::StrCat(name, "=", space::ValueText(value)));
  return absl::StrJoin(parts, ", ");
}

// A best-so-far curve drawn with block characters, one column per trial.
std::string Sparkline(const std::vector<double>& values) {
  if (values.empty()) return "";
  static const char* kBlocks[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  std::string out;
  for (double v : values) {
    const int level = *hi > *lo ? static_cast<int>((v - *lo) / (*hi - *lo) * 7.0 + 0.5) : 7;
    out += kBlocks[std::clamp(level, 0, 7)];
  }
  return out;
}

void AppendMetrics(std::string& md, const char* split, const vmle::v1::MetricValues& m) {
  absl::StrAppendFormat(&md, "| %s | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f |\n", split, m.recall_at_5(),
                        m.recall_at_10(), m.recall_at_20(), m.ndcg_at_5(), m.ndcg_at_10(), m.ndcg_at_20(), m.mrr());
}

}  // namespace

std::string SeedPlanText(const vmle::v1::Proposal& p) {
  if (p.replicate_of() > 0) {
    return p.seed_from() > 0 ? absl::StrCat("replicate of t", p.replicate_of(), ", seed of t", p.seed_from())
                             : absl::StrCat("replicate of t", p.replicate_of(), ", new seed");
  }
  if (p.seed_from() > 0) return absl::StrCat("paired with t", p.seed_from());
  return "new";
}

std::string CognitionId(const std::string& study_id) { return "cs-" + study_id; }

vmle::v1::StudyReport BuildReport(const ReportInputs& in) {
  vmle::v1::StudyReport report;
  *report.mutable_study() = in.study;
  const auto direction = in.study.spec().objective().direction();
  auto oriented = [direction](double v) { return direction == vmle::v1::DIRECTION_MINIMIZE ? -v : v; };
  std::map<int, const vmle::v1::Reflection*> reflections;
  for (const auto& r : in.reflections) reflections[r.trial_number()] = &r;
  // The best by the evidence after each trial (internal/ranking.h), by its mean.
  std::vector<Trial> so_far;
  const std::vector<Trial> ran = internal::RanTrials(in.trials);
  const evidence::Options options = internal::RankingOptions(in.study, ran);
  bool has_best = false;
  double best = 0;
  for (const Trial& t : in.trials) {
    if (t.id() == in.study.best_trial_id()) *report.mutable_best_trial() = t;
    if (HasResult(t) && t.attempts() > 0) {
      so_far.push_back(t);
      const evidence::StudyEvidence e = evidence::StudyEvidence::Read(so_far, direction, options);
      if (e.Incumbent() >= 0) {
        best = oriented(e.groups()[static_cast<size_t>(e.Incumbent())].Mean());
        has_best = true;
      }
    }
    vmle::v1::TrajectoryEntry* e = report.add_trajectory();
    e->set_trial_number(t.number());
    e->set_trial_id(t.id());
    e->set_status(t.status());
    *e->mutable_proposal() = t.proposal();
    *e->mutable_config() = t.config();
    e->set_objective_value(HasResult(t) ? t.objective_value() : 0);
    e->set_best_so_far(has_best ? best : 0);
    if (auto it = reflections.find(t.number()); it != reflections.end()) *e->mutable_reflection() = *it->second;
  }
  // The best configuration over its seeds.
  const evidence::StudyEvidence e = evidence::StudyEvidence::Read(ran, direction, options);
  if (e.Incumbent() >= 0) {
    const evidence::Group& g = e.groups()[static_cast<size_t>(e.Incumbent())];
    std::vector<double> validation, test;
    for (const evidence::Run& r : g.runs) {
      if (!r.finished()) continue;
      const Trial& t = ran[static_cast<size_t>(r.index)];
      report.add_best_trials(t.number());
      validation.push_back(t.objective_value());
      test.push_back(MetricValue(t.test(), in.study.spec().objective().metric()));
    }
    auto mean_sd = [](const std::vector<double>& v) {
      double mean = 0, ss = 0;
      for (double x : v) mean += x / static_cast<double>(v.size());
      for (double x : v) ss += (x - mean) * (x - mean);
      return std::make_pair(mean, v.size() > 1 ? std::sqrt(ss / static_cast<double>(v.size() - 1)) : 0.0);
    };
    const auto [validation_mean, validation_sd] = mean_sd(validation);
    const auto [test_mean, test_sd] = mean_sd(test);
    report.set_best_validation_mean(validation_mean);
    report.set_best_validation_sd(validation_sd);
    report.set_best_test_mean(test_mean);
    report.set_best_test_sd(test_sd);
  }
  *report.mutable_insights() = in.insights;
  if (in.cognition.has_value()) *report.mutable_cognition() = *in.cognition;
  for (const auto& s : in.recalled) *report.add_recalled() = s;
  *report.mutable_search_space() = in.space;
  report.set_markdown(ReportMarkdown(report));
  return report;
}

std::string ReportMarkdown(const vmle::v1::StudyReport& report) {
  const vmle::v1::Study& study = report.study();
  const vmle::v1::StudySpec& spec = study.spec();
  const char* metric = MetricLabel(spec.objective().metric());
  std::string md = absl::StrCat("# Study ", study.id(), spec.name().empty() ? "" : " — " + spec.name(), "\n\n");
  absl::StrAppend(&md, "- Dataset: ", spec.dataset().name(), "\n- Backbone: ", vmle::v1::Backbone_Name(spec.backbone()),
                  "\n- Planner: ", spec.planner().name(), "\n- State: ", vmle::v1::StudyState_Name(study.state()),
                  study.end_reason().empty() ? "" : " (" + study.end_reason() + ")",
                  "\n- Trials: ", study.trials_total(), " (", study.trials_succeeded(), " succeeded, ",
                  study.trials_stopped(), " stopped, ", study.trials_failed(), " failed)\n");
  if (!study.error().empty()) absl::StrAppend(&md, "- Error: ", study.error(), "\n");
  for (const auto& s : report.recalled()) {
    absl::StrAppend(&md, "- Recalled cognition summary: ", s.id(), " (from ", s.dataset_name(), ", ",
                    s.rules_size(), " rules)\n");
  }
  const vmle::v1::NoiseEstimate& noise = study.noise();
  if (noise.degrees_of_freedom() > 0) {
    absl::StrAppendFormat(&md, "- Seed noise: sd %.4f (%.1f%% of the mean), from %d replicated configuration%s, %d degree%s of freedom\n",
                          noise.sd(), 100 * noise.relative_sd(), noise.configurations(),
                          noise.configurations() == 1 ? "" : "s", noise.degrees_of_freedom(),
                          noise.degrees_of_freedom() == 1 ? "" : "s");
  } else {
    absl::StrAppend(&md, "- Seed noise: not measured (no configuration ran on two seeds)\n");
  }
  if (study.has_best()) {
    const Trial& best = report.best_trial();
    const int n = report.best_trials_size();
    absl::StrAppendFormat(&md, "\n## Best configuration: trial %d\n\n", best.number());
    if (n > 1) {
      absl::StrAppendFormat(&md, "Over %d seeds (trials %s): val %s %.4f ± %.4f, test %s %.4f ± %.4f (mean ± sd).\n\n", n,
                            absl::StrJoin(report.best_trials(), ", "), metric, report.best_validation_mean(),
                            report.best_validation_sd(), metric, report.best_test_mean(), report.best_test_sd());
    } else {
      absl::StrAppendFormat(&md, "One seed: val %s %.4f, test %s %.4f (no spread: a single run).\n\n", metric,
                            report.best_validation_mean(), metric, report.best_test_mean());
    }
    absl::StrAppend(&md, "Configuration: `", ConfigText(best.config()), "`\n\nTrial ", best.number(), ":\n\n");
    absl::StrAppend(&md, "| split | R@5 | R@10 | R@20 | N@5 | N@10 | N@20 | MRR |\n|---|---|---|---|---|---|---|---|\n");
    AppendMetrics(md, "validation", best.validation());
    AppendMetrics(md, "test", best.test());
  }
  std::vector<double> curve;
  absl::StrAppend(&md, "\n## Trajectory\n\n| # | status | changed | seed | hypothesis | val ", metric,
                  " | best so far (mean) | reflection |\n|---|---|---|---|---|---|---|---|\n");
  for (const auto& e : report.trajectory()) {
    curve.push_back(e.best_so_far());
    const bool has_value = e.status() == vmle::v1::TRIAL_STATUS_SUCCEEDED || e.status() == vmle::v1::TRIAL_STATUS_STOPPED;
    absl::StrAppendFormat(&md, "| %d | %s | %s | %s | %s | %s | %.4f | %s |\n", e.trial_number(), StatusLabel(e.status()),
                          Cell(e.proposal().changed_dimension()), SeedPlanText(e.proposal()),
                          Cell(e.proposal().hypothesis()),
                          has_value ? absl::StrFormat("%.4f", e.objective_value()) : "–", e.best_so_far(),
                          Cell(e.reflection().observation()));
  }
  absl::StrAppend(&md, "\nBest so far: `", Sparkline(curve), "`\n");
  if (report.insights().insights_size() > 0) {
    absl::StrAppend(&md, "\n## Working insights\n\n");
    for (const auto& i : report.insights().insights()) absl::StrAppend(&md, "- ", i.text(), "\n");
  }
  if (report.has_cognition()) {
    absl::StrAppend(&md, "\n## Rules learned\n\n");
    for (const auto& r : report.cognition().rules()) {
      absl::StrAppendFormat(&md, "- %s → %s%s: effect %+.1f%% (95%% interval %+.1f%% to %+.1f%%, %d comparison%s; %s): %s\n",
                            r.knob(), r.direction(), r.condition().empty() ? "" : " when " + r.condition(),
                            100 * r.effect(), 100 * r.effect_low(), 100 * r.effect_high(), r.comparisons(),
                            r.comparisons() == 1 ? "" : "s",
                            r.sources().empty() ? "this dataset" : absl::StrJoin(r.sources(), ", "), r.text());
    }
    if (report.cognition().rules().empty()) {
      absl::StrAppend(&md, "- none: no change's effect was clear of the seed noise\n");
    }
    if (!report.cognition().prose().empty()) absl::StrAppend(&md, "\n", report.cognition().prose(), "\n");
  }
  return md;
}

}  // namespace vmle::agent
