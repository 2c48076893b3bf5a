// The end of studies in the StudyManager: stop conditions (failures, target,
// patience, wall time), ending (queued trials stop, running ones are told to), and the
// sweeper (expired leases, stop conditions, gauges).
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/logging/logging.h"
#include "common/status/status_macros.h"
#include "services/agent/study/internal/study_entry.h"
#include "services/agent/study/internal/study_state.h"
#include "services/agent/study/internal/time_util.h"
#include "services/agent/study/objective.h"
#include "services/agent/study/study_manager.h"

namespace vmle::agent {

using internal::Finished;
using internal::FromTimestamp;
using internal::StateName;
using internal::StudyEntry;
using internal::ToTimestamp;
using vmle::v1::StudyEvent;
using vmle::v1::StudyState;
using vmle::v1::Trial;

absl::Status StudyManager::BeginEndingLocked(StudyEntry& entry, const std::string& reason, StudyState final_state) {
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
    metrics_->TrialTransition("stopped");
    entry.queue.pop_front();
  }
  if (final_state == vmle::v1::STUDY_STATE_CANCELLED) {
    vmle::v1::Study study = entry.study;
    study.set_state(vmle::v1::STUDY_STATE_CANCELLED);
    study.set_end_reason(reason);
    *study.mutable_finished_at() = ToTimestamp(absl::Now());
    StudyEvent cancelled = StudyLedger::MakeEvent(entry, StudyEvent::TYPE_STUDY_CANCELLED, "", "study cancelled: " + reason);
    RETURN_IF_ERROR(ledger_.CommitLocked(entry, study, nullptr, {cancelled}));
    metrics_->RemoveBest(entry.study.id());
  }
  work_pending_ = true;
  work_cv_.SignalAll();
  return absl::OkStatus();
}

std::string StudyManager::StopReasonLocked(const StudyEntry& entry, StudyState* final_state) const {
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

absl::Status StudyManager::CheckStopLocked(StudyEntry& entry) {
  StudyState final_state = vmle::v1::STUDY_STATE_SUCCEEDED;
  const std::string reason = StopReasonLocked(entry, &final_state);
  if (reason.empty()) return absl::OkStatus();
  log::Info("study ending", {{"study", entry.study.id()}, {"reason", reason}});
  return BeginEndingLocked(entry, reason, final_state);
}

void StudyManager::SweepLoop() {
  absl::Time last_gauges = absl::InfinitePast();
  absl::MutexLock lock(&mu_);
  while (!ledger_.StoppingLocked()) {
    work_cv_.WaitWithTimeout(&mu_, options_.sweep_interval);
    if (ledger_.StoppingLocked()) break;
    ExpireLeasesLocked();
    for (auto& [id, entry] : ledger_.StudiesLocked()) {
      // An ending whose queued trials could not all be stopped yet (a failed write).
      if (entry->Active() && entry->ending && !entry->queue.empty() && !entry->writing) {
        WriteSlot slot(ledger_, *entry);
        if (slot.Acquire(absl::ZeroDuration()).ok()) {
          if (absl::Status s = BeginEndingLocked(*entry, entry->end_reason, entry->final_state); !s.ok()) {
            log::Warn("cannot end study yet", {{"study", id}, {"error", std::string(s.message())}});
          }
        }
        continue;
      }
      StudyState final_state;
      if (entry->Active() && !entry->ending && !entry->writing && !StopReasonLocked(*entry, &final_state).empty()) {
        WriteSlot slot(ledger_, *entry);
        if (!slot.Acquire(absl::ZeroDuration()).ok()) continue;
        if (absl::Status s = CheckStopLocked(*entry); !s.ok()) {
          log::Warn("cannot end study yet", {{"study", id}, {"error", std::string(s.message())}});
        }
      }
    }
    if (absl::Now() - last_gauges >= absl::Seconds(1)) {
      UpdateGaugesLocked();
      last_gauges = absl::Now();
    }
  }
}

void StudyManager::UpdateGaugesLocked() {
  std::map<std::string, int> studies, trials, workers;
  int queued = 0;
  for (const auto& [id, entry] : ledger_.StudiesLocked()) {
    ++studies[StateName(entry->study.state())];
    queued += static_cast<int>(entry->queue.size());
    for (const auto& [number, t] : entry->trials) {
      std::string status = vmle::v1::TrialStatus_Name(t.trial.status());
      status = absl::AsciiStrToLower(status.substr(status.rfind('_') + 1));
      ++trials[status];
    }
    if (entry->Active() && entry->study.has_best()) metrics_->SetBest(id, entry->study.best_value());
    if (entry->Active() && entry->study.noise().degrees_of_freedom() > 0) {
      metrics_->SetNoise(id, entry->study.noise().relative_sd());
    }
  }
  const absl::Time now = absl::Now();
  for (const auto& [id, w] : workers_) {
    if (now - w.last_seen <= 2 * options_.lease_duration + options_.max_lease_wait) ++workers[w.state];
  }
  metrics_->SetStudies(studies);
  metrics_->SetTrials(trials);
  metrics_->SetWorkers(workers);
  metrics_->SetQueueLength(queued);
}

}  // namespace vmle::agent
