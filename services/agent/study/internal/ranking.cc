#include "services/agent/study/internal/ranking.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "services/agent/evidence/evidence.h"
#include "services/agent/study/internal/study_state.h"

namespace vmle::agent::internal {
namespace {

void Count(const vmle::v1::Trial& t, int sign, vmle::v1::Study& study) {
  study.set_trials_total(study.trials_total() + sign);
  switch (t.status()) {
    case vmle::v1::TRIAL_STATUS_SUCCEEDED: study.set_trials_succeeded(study.trials_succeeded() + sign); break;
    case vmle::v1::TRIAL_STATUS_FAILED: study.set_trials_failed(study.trials_failed() + sign); break;
    case vmle::v1::TRIAL_STATUS_STOPPED: study.set_trials_stopped(study.trials_stopped() + sign); break;
    case vmle::v1::TRIAL_STATUS_RUNNING: study.set_trials_running(study.trials_running() + sign); break;
    default: break;
  }
}

bool Ran(const vmle::v1::Trial& t) { return Finished(t) && t.attempts() > 0; }

void Rank(const StudyEntry& entry, absl::Span<const vmle::v1::Trial> changed, vmle::v1::Study& study) {
  // The finished trials in number order, each changed one in its place; not copied.
  std::map<int, size_t> changed_at;  // number -> index in `changed`
  for (size_t i = 0; i < changed.size(); ++i) changed_at[changed[i].number()] = i;
  std::vector<std::string> changed_keys(changed.size());
  std::vector<const vmle::v1::Trial*> ran;
  std::vector<const std::string*> keys;
  ran.reserve(entry.trials.size() + changed.size());
  keys.reserve(entry.trials.size() + changed.size());
  auto add_changed = [&](size_t i) {
    if (!Ran(changed[i])) return;
    changed_keys[i] = evidence::ConfigurationKey(changed[i].config());
    ran.push_back(&changed[i]);
    keys.push_back(&changed_keys[i]);
  };
  auto next_changed = changed_at.begin();
  for (const auto& [number, state] : entry.trials) {
    for (; next_changed != changed_at.end() && next_changed->first < number; ++next_changed) {
      add_changed(next_changed->second);
    }
    if (next_changed != changed_at.end() && next_changed->first == number) {
      add_changed(next_changed->second);
      ++next_changed;
    } else if (Ran(state.trial)) {
      ran.push_back(&state.trial);
      keys.push_back(&state.ConfigKey());
    }
  }
  for (; next_changed != changed_at.end(); ++next_changed) add_changed(next_changed->second);
  const vmle::v1::Direction direction = study.spec().objective().direction();
  const evidence::StudyEvidence e =
      evidence::StudyEvidence::Read(ran, direction, RankingOptions(study, ran), &keys);
  *study.mutable_noise() = e.noise();
  const int best = e.Incumbent();
  if (best < 0) return;
  const evidence::Group& g = e.groups()[static_cast<size_t>(best)];
  study.set_has_best(true);
  study.set_best_trial_id(ran[static_cast<size_t>(g.first().index)]->id());
  study.set_best_value(direction == vmle::v1::DIRECTION_MINIMIZE ? -g.Mean() : g.Mean());
  study.set_best_runs(g.Finished());
  study.set_best_sd(g.Sd());
}

}  // namespace

std::vector<vmle::v1::Trial> RanTrials(const std::vector<vmle::v1::Trial>& trials) {
  std::vector<vmle::v1::Trial> ran;
  for (const vmle::v1::Trial& t : trials) {
    if (Ran(t)) ran.push_back(t);  // not the queued trials a study's end stopped
  }
  std::sort(ran.begin(), ran.end(), [](const auto& a, const auto& b) { return a.number() < b.number(); });
  return ran;
}

evidence::Options RankingOptions(const vmle::v1::Study& study, const std::vector<vmle::v1::Trial>& ran) {
  std::vector<const vmle::v1::Trial*> pointers;
  for (const vmle::v1::Trial& t : ran) pointers.push_back(&t);
  return RankingOptions(study, pointers);
}

evidence::Options RankingOptions(const vmle::v1::Study& study, const std::vector<const vmle::v1::Trial*>& ran) {
  bool replicates = study.spec().planner().name() == "heuristic" || study.spec().planner().name().empty();
  int done = 0;
  for (const vmle::v1::Trial* t : ran) {
    replicates = replicates || t->proposal().replicate_of() > 0;
    done += t->proposal().replicate_of() > 0;
  }
  evidence::Options options;
  options.intensify = replicates && evidence::Intensifying(study.spec().budget(), done);
  return options;
}

void Recount(const StudyEntry& entry, absl::Span<const vmle::v1::Trial> changed, vmle::v1::Study& study) {
  bool finished = false;
  for (const vmle::v1::Trial& t : changed) {
    if (auto it = entry.trials.find(t.number()); it != entry.trials.end()) Count(it->second.trial, -1, study);
    Count(t, +1, study);
    finished = finished || Finished(t);
  }
  if (finished) Rank(entry, changed, study);
}

}  // namespace vmle::agent::internal
