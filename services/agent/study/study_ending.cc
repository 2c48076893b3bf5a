#include "services/agent/study/study_ending.h"

#include "absl/strings/str_cat.h"
#include "common/logging/logging.h"
#include "common/status/status_macros.h"
#include "services/agent/study/internal/study_state.h"
#include "services/agent/study/internal/time_util.h"
#include "services/agent/study/objective.h"

namespace vmle::agent {

using internal::Finished;
using internal::FromTimestamp;
using internal::ToTimestamp;
using vmle::v1::StudyEvent;
using vmle::v1::StudyState;
using vmle::v1::Trial;

absl::Status StudyEnding::BeginLocked(StudyEntry& entry, const std::string& reason, StudyState final_state) {
  entry.ending = true;
  entry.final_state = final_state;
  entry.end_reason = reason;
  // Told first (no write needed), so that a failed write below cannot leave them running.
  for (auto& [number, t] : entry.trials) {
    if (t.trial.status() == vmle::v1::TRIAL_STATUS_RUNNING) {
      t.stop_requested = true;
      t.stop_reason = reason;
    }
  }
  while (!entry.queue.empty()) {
    Trial trial = entry.trials[entry.queue.front()].trial;
    trial.set_status(vmle::v1::TRIAL_STATUS_STOPPED);
    trial.set_error("not started: " + reason);
    *trial.mutable_finished_at() = ToTimestamp(absl::Now());
    StudyEvent stopped = StudyLedger::MakeEvent(entry, StudyEvent::TYPE_TRIAL_STOPPED, trial.id(),
                                   absl::StrCat("trial ", trial.number(), " not started: ", reason));
    RETURN_IF_ERROR(ledger_.CommitLocked(entry, entry.study, &trial, {stopped}));
    metrics_.TrialTransition("stopped");
    entry.queue.pop_front();
  }
  if (final_state == vmle::v1::STUDY_STATE_CANCELLED) {
    vmle::v1::Study study = entry.study;
    study.set_state(vmle::v1::STUDY_STATE_CANCELLED);
    study.set_end_reason(reason);
    *study.mutable_finished_at() = ToTimestamp(absl::Now());
    StudyEvent cancelled = StudyLedger::MakeEvent(entry, StudyEvent::TYPE_STUDY_CANCELLED, "", "study cancelled: " + reason);
    RETURN_IF_ERROR(ledger_.CommitLocked(entry, study, nullptr, {cancelled}));
    metrics_.RemoveBest(entry.study.id());
  }
  new_work_(entry);
  return absl::OkStatus();
}

std::string StudyEnding::StopReasonLocked(const StudyEntry& entry, StudyState* final_state) const {
  if (!entry.Active() || entry.ending) return "";
  const vmle::v1::Study& study = entry.study;
  const vmle::v1::Budget& budget = study.spec().budget();
  *final_state = vmle::v1::STUDY_STATE_SUCCEEDED;
  if (study.trials_failed() >= budget.max_failed_trials()) {
    *final_state = vmle::v1::STUDY_STATE_FAILED;
    return absl::StrCat(study.trials_failed(), " trials failed (max_failed_trials ", budget.max_failed_trials(),
                        ")");
  }
  if (budget.has_target() && study.has_best() &&
      !Better(budget.target_value(), study.best_value(), study.spec().objective().direction())) {
    return absl::StrCat("target ", budget.target_value(), " reached by ", study.best_trial_id());
  }
  if (budget.no_improvement_patience() > 0 && study.has_best()) {
    absl::Time best_at = absl::InfinitePast();
    for (const auto& [number, t] : entry.trials) {
      if (t.trial.id() == study.best_trial_id()) best_at = FromTimestamp(t.trial.finished_at());
    }
    int since = 0;
    for (const auto& [number, t] : entry.trials) {
      since += Finished(t.trial) && t.trial.attempts() > 0 && number >= entry.first_trial_of_run &&
               FromTimestamp(t.trial.finished_at()) > best_at;
    }
    if (since >= budget.no_improvement_patience()) {
      return absl::StrCat("no improvement in the last ", since, " trials (patience ",
                          budget.no_improvement_patience(), ")");
    }
  }
  if (budget.max_wall_seconds() > 0 &&
      absl::Now() - entry.run_started >= absl::Seconds(budget.max_wall_seconds())) {
    return absl::StrCat("wall-time limit of ", budget.max_wall_seconds(), " s reached");
  }
  return "";
}

absl::Status StudyEnding::CheckLocked(StudyEntry& entry) {
  StudyState final_state = vmle::v1::STUDY_STATE_SUCCEEDED;
  const std::string reason = StopReasonLocked(entry, &final_state);
  if (reason.empty()) return absl::OkStatus();
  log::Info("study ending", {{"study", entry.study.id()}, {"reason", reason}});
  return BeginLocked(entry, reason, final_state);
}

}  // namespace vmle::agent
