// The LeaseQueue's reports from workers: heartbeats, progress (group-committed per
// study, with early stopping), results and failures (requeued while retries remain).
#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/logging/logging.h"
#include "common/status/failure_cause.h"
#include "common/status/message.h"
#include "common/status/status_macros.h"
#include "services/agent/early_stop/early_stopping.h"
#include "services/agent/study/internal/ranking.h"
#include "services/agent/study/internal/study_entry.h"
#include "services/agent/study/internal/time_util.h"
#include "services/agent/study/lease_queue.h"
#include "services/agent/study/objective.h"

namespace vmle::agent {
namespace {

using internal::StudyEntry;
using internal::ToTimestamp;
using vmle::v1::StudyEvent;
using vmle::v1::Trial;
absl::Status CheckMetrics(const std::string& field, const vmle::v1::MetricValues& m) {
  for (double v : {m.recall_at_5(), m.recall_at_10(), m.recall_at_20(), m.ndcg_at_5(), m.ndcg_at_10(),
                   m.ndcg_at_20(), m.mrr()}) {
    if (!std::isfinite(v) || v < 0 || v > 1) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": metric values must be in [0, 1], got ", v));
    }
  }
  return absl::OkStatus();
}

std::string Describe(vmle::v1::Metric metric, double value) {
  return absl::StrFormat("val %s %.4f", MetricLabel(metric), value);
}

// The most epochs a trial may report (the trainer allows max_epochs up to 10,000).
constexpr int kMaxEpoch = 10000;

absl::Status CheckEpochNumber(const std::string& field, int epoch) {
  if (epoch < 1 || epoch > kMaxEpoch) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": must be in [1, ", kMaxEpoch, "], got ", epoch));
  }
  return absl::OkStatus();
}

// `epochs` (the repeated field `field`) must follow on from epoch `after`, one by
// one (after 0: the first may be any epoch), each in [1, kMaxEpoch] with metrics in
// range.
absl::Status CheckEpochRun(const std::string& field,
                           const google::protobuf::RepeatedPtrField<vmle::v1::EpochMetrics>& epochs, int after) {
  for (int i = 0; i < epochs.size(); ++i) {
    const std::string item = absl::StrCat(field, "[", i, "]");
    RETURN_IF_ERROR(CheckEpochNumber(item + ".epoch", epochs[i].epoch()));
    const int previous = i == 0 ? after : epochs[i - 1].epoch();
    if (previous != 0 && epochs[i].epoch() != previous + 1) {
      return absl::InvalidArgumentError(absl::StrCat(item, ".epoch: must be ", previous + 1, " (consecutive)"));
    }
    RETURN_IF_ERROR(CheckMetrics(item + ".validation", epochs[i].validation()));
  }
  return absl::OkStatus();
}

// Appends `epoch` to the trial with its progress event, replacing the epochs from
// its number on; an epoch already stored as it is (a retried report) is left alone,
// with no second event.
void AppendEpoch(const StudyEntry& entry, vmle::v1::Metric metric, const vmle::v1::EpochMetrics& epoch, Trial& trial,
                 std::vector<StudyEvent>& events) {
  for (int i = trial.epochs_size() - 1; i >= 0 && trial.epochs(i).epoch() >= epoch.epoch(); --i) {
    if (trial.epochs(i).epoch() == epoch.epoch() &&
        trial.epochs(i).SerializeAsString() == epoch.SerializeAsString()) {
      return;
    }
  }
  while (trial.epochs_size() > 0 && trial.epochs(trial.epochs_size() - 1).epoch() >= epoch.epoch()) {
    trial.mutable_epochs()->RemoveLast();
  }
  *trial.add_epochs() = epoch;
  StudyEvent progress = StudyLedger::MakeEvent(
      entry, StudyEvent::TYPE_TRIAL_PROGRESS, trial.id(),
      absl::StrCat("trial ", trial.number(), " epoch ", epoch.epoch(), ": ",
                   Describe(metric, MetricValue(epoch.validation(), metric))));
  *progress.mutable_epoch() = epoch;
  progress.set_value(MetricValue(epoch.validation(), metric));
  events.push_back(std::move(progress));
}

}  // namespace

absl::StatusOr<StudyEntry*> LeaseQueue::StudyOfTrialLocked(const std::string& trial_id,
                                                             const std::string& lease_id) {
  RETURN_IF_ERROR(ledger_.CheckServingLocked());
  if (trial_id.empty()) return absl::InvalidArgumentError("trial_id: required");
  if (lease_id.empty()) return absl::InvalidArgumentError("lease_id: required");
  return ledger_.StudyOfTrialLocked(trial_id);
}

absl::StatusOr<Trial*> LeaseQueue::CheckLeaseLocked(StudyEntry& entry, const std::string& trial_id,
                                                      const std::string& lease_id) {
  internal::TrialState& state = entry.trials[entry.number_of.at(trial_id)];
  if (state.trial.status() != vmle::v1::TRIAL_STATUS_RUNNING || state.trial.lease_id() != lease_id ||
      state.lease_deadline < absl::Now()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "lease ", TruncateForMessage(lease_id, 40), " of trial ", TruncateForMessage(trial_id, 200),
        " is no longer valid (it expired or the trial was leased again); abandon the trial"));
  }
  return &state.trial;
}

absl::StatusOr<vmle::v1::HeartbeatResponse> LeaseQueue::Heartbeat(const vmle::v1::HeartbeatRequest& request) {
  // Needs no write: a lease outlives a memory service that does not answer.
  absl::MutexLock lock(&ledger_.mu());
  ASSIGN_OR_RETURN(StudyEntry * entry, StudyOfTrialLocked(request.trial_id(), request.lease_id()));
  ASSIGN_OR_RETURN(Trial * trial, CheckLeaseLocked(*entry, request.trial_id(), request.lease_id()));
  internal::TrialState& state = entry->trials[trial->number()];
  const absl::Time now = absl::Now();
  state.lease_deadline = now + options_.lease_duration;
  workers_[state.trial.worker_id()] = {"busy", now};
  vmle::v1::HeartbeatResponse response;
  *response.mutable_lease_expires_at() = ToTimestamp(state.lease_deadline);
  response.set_stop(state.stop_requested);
  return response;
}

bool LeaseQueue::EarlyStopLocked(const StudyEntry& entry, const Trial& trial, int new_epochs,
                                 std::string* reason) const {
  const vmle::v1::StudySpec& spec = entry.study.spec();
  const vmle::v1::EarlyStoppingRule rule = spec.early_stopping().rule();
  if (rule == vmle::v1::EARLY_STOPPING_RULE_OFF || rule == vmle::v1::EARLY_STOPPING_RULE_UNSPECIFIED) return false;
  const vmle::v1::Metric metric = spec.objective().metric();
  auto curve = [metric](const Trial& t) {
    std::vector<double> values;
    for (const auto& e : t.epochs()) values.push_back(MetricValue(e.validation(), metric));
    return values;
  };
  std::vector<std::vector<double>> others;
  for (const auto& [number, state] : entry.trials) {
    if (number != trial.number() && state.trial.epochs_size() > 0) others.push_back(curve(state.trial));
  }
  // The curve grows one epoch at a time; each new epoch is judged on the curve up to it.
  const int first_new = trial.epochs_size() - std::min(trial.epochs_size(), std::max(new_epochs, 1));
  std::vector<double> upto;
  for (int i = 0; i < trial.epochs_size(); ++i) {
    upto.push_back(MetricValue(trial.epochs(i).validation(), metric));
    if (i < first_new) continue;
    const EarlyStoppingDecision decision =
        DecideEarlyStop(spec.early_stopping(), spec.objective().direction(), others, upto);
    if (decision.stop) {
      *reason = decision.reason;
      return true;
    }
  }
  return false;
}

absl::StatusOr<vmle::v1::ReportProgressResponse> LeaseQueue::Progress(
    const vmle::v1::ReportProgressRequest& request) {
  const vmle::v1::EpochMetrics& epoch = request.epoch();
  RETURN_IF_ERROR(CheckEpochNumber("epoch.epoch", epoch.epoch()));
  RETURN_IF_ERROR(CheckMetrics("epoch.validation", epoch.validation()));
  RETURN_IF_ERROR(CheckEpochRun("later_epochs", request.later_epochs(), epoch.epoch()));
  absl::MutexLock lock(&ledger_.mu());
  ASSIGN_OR_RETURN(StudyEntry * found, StudyOfTrialLocked(request.trial_id(), request.lease_id()));
  StudyEntry& entry = *found;
  internal::TrialState& state = entry.trials[entry.number_of.at(request.trial_id())];
  // A report shows the worker alive, whether or not it can be stored now.
  RETURN_IF_ERROR(CheckLeaseLocked(entry, request.trial_id(), request.lease_id()).status());
  state.lease_deadline = absl::Now() + options_.lease_duration;
  // Reports that arrive while the study writes wait for the next write, which stores
  // them all: the first caller to find the study idle writes for every waiting one.
  internal::PendingProgress pending;
  pending.request = &request;
  entry.progress.push_back(&pending);
  const absl::Time deadline = absl::Now() + StudyLedger::kSlotWait;
  while (!pending.done) {
    if (pending.taken) {
      // In a write now: answered when it returns (the slot's release signals).
      entry.slot_cv.Wait(&ledger_.mu());
      continue;
    }
    if (!entry.writing) {
      WriteProgressLocked(entry);
      continue;
    }
    const bool timed_out = entry.slot_cv.WaitWithDeadline(&ledger_.mu(), deadline);
    if ((timed_out || ledger_.StoppingLocked()) && !pending.taken && !pending.done) {
      entry.progress.erase(std::find(entry.progress.begin(), entry.progress.end(), &pending));
      return absl::UnavailableError(ledger_.StoppingLocked() ? std::string("the agent is shutting down")
                                              : absl::StrCat("study ", entry.study.id(),
                                                             " is waiting for the memory service to store its "
                                                             "last change; retry"));
    }
  }
  if (!pending.status.ok()) return pending.status;
  return pending.response;
}

void LeaseQueue::WriteProgressLocked(StudyEntry& entry) {
  // At most this many reports in one write; the rest go in the next.
  constexpr size_t kMaxBatch = 256;
  std::vector<internal::PendingProgress*> batch;
  while (!entry.progress.empty() && batch.size() < kMaxBatch) {
    batch.push_back(entry.progress.front());
    batch.back()->taken = true;
    entry.progress.pop_front();
  }
  // Answers reports not answered yet; only those (an answered one's caller may have
  // returned: its report is gone).
  auto finish = [](const std::vector<internal::PendingProgress*>& reports, const absl::Status& status) {
    for (internal::PendingProgress* p : reports) {
      p->status = status;
      p->done = true;
    }
  };
  StudyLedger::WriteSlot slot(ledger_, entry);
  if (absl::Status s = slot.Acquire(absl::ZeroDuration()); !s.ok()) return finish(batch, s);
  vmle::v1::Study study = entry.study;
  const vmle::v1::Metric metric = study.spec().objective().metric();
  std::vector<Trial> trials;
  absl::flat_hash_map<std::string, size_t> index;  // trial id -> trials[]
  std::vector<StudyEvent> events;
  std::vector<internal::PendingProgress*> written;
  for (internal::PendingProgress* p : batch) {
    const vmle::v1::ReportProgressRequest& request = *p->request;
    if (absl::Status s = CheckLeaseLocked(entry, request.trial_id(), request.lease_id()).status(); !s.ok()) {
      p->status = s;
      p->done = true;
      continue;
    }
    auto [it, added] = index.try_emplace(request.trial_id(), trials.size());
    if (added) trials.push_back(entry.trials[entry.number_of.at(request.trial_id())].trial);
    Trial& trial = trials[it->second];
    if (request.has_dataset_profile() && !study.has_dataset_profile()) {
      *study.mutable_dataset_profile() = request.dataset_profile();
      new_work_(entry);
    }
    AppendEpoch(entry, metric, request.epoch(), trial, events);
    for (const vmle::v1::EpochMetrics& epoch : request.later_epochs()) AppendEpoch(entry, metric, epoch, trial, events);
    written.push_back(p);
  }
  if (written.empty()) return;
  if (absl::Status s = ledger_.CommitLocked(entry, std::move(study), trials, std::move(events)); !s.ok()) {
    return finish(written, s);
  }
  metrics_.ProgressWrite(written.size());
  for (internal::PendingProgress* p : written) {
    internal::TrialState& state = entry.trials[entry.number_of.at(p->request->trial_id())];
    std::string reason;
    if (!state.stop_requested &&
        EarlyStopLocked(entry, state.trial, 1 + p->request->later_epochs_size(), &reason)) {
      state.stop_requested = true;
      state.stop_reason = "early stopping: " + reason;
    }
    p->response.set_action(state.stop_requested ? vmle::v1::ReportProgressResponse::ACTION_STOP
                                                : vmle::v1::ReportProgressResponse::ACTION_CONTINUE);
    p->response.set_reason(state.stop_reason);
    p->done = true;
  }
}

absl::Status LeaseQueue::Complete(const vmle::v1::CompleteTrialRequest& request) {
  RETURN_IF_ERROR(CheckMetrics("validation", request.validation()));
  RETURN_IF_ERROR(CheckMetrics("test", request.test()));
  RETURN_IF_ERROR(CheckEpochRun("final_epochs", request.final_epochs(), 0));
  absl::MutexLock lock(&ledger_.mu());
  ASSIGN_OR_RETURN(StudyEntry * found, StudyOfTrialLocked(request.trial_id(), request.lease_id()));
  StudyEntry& entry = *found;
  StudyLedger::WriteSlot slot(ledger_, entry);
  RETURN_IF_ERROR(slot.Acquire(StudyLedger::kSlotWait));
  internal::TrialState& state = entry.trials[entry.number_of.at(request.trial_id())];
  // A retried report whose first try was stored (its answer was lost) succeeds.
  if ((state.trial.status() == vmle::v1::TRIAL_STATUS_SUCCEEDED ||
       state.trial.status() == vmle::v1::TRIAL_STATUS_STOPPED) &&
      state.trial.lease_id() == request.lease_id()) {
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(CheckLeaseLocked(entry, request.trial_id(), request.lease_id()).status());
  Trial trial = state.trial;
  const vmle::v1::Metric metric = entry.study.spec().objective().metric();
  // The epochs no report carried are stored first and judged as if reported: a trial
  // early stopping would have stopped at one of them is stored as stopped.
  std::vector<StudyEvent> events;
  for (const vmle::v1::EpochMetrics& epoch : request.final_epochs()) AppendEpoch(entry, metric, epoch, trial, events);
  std::string stop_reason = state.stop_reason;
  bool judged_stop = false;
  if (!state.stop_requested && request.final_epochs_size() > 0 &&
      EarlyStopLocked(entry, trial, request.final_epochs_size(), &stop_reason)) {
    judged_stop = true;
    stop_reason = "early stopping: " + stop_reason;
  }
  const bool stopped = request.stopped_early() || state.stop_requested || judged_stop;
  trial.set_status(stopped ? vmle::v1::TRIAL_STATUS_STOPPED : vmle::v1::TRIAL_STATUS_SUCCEEDED);
  *trial.mutable_validation() = request.validation();
  *trial.mutable_test() = request.test();
  trial.set_best_epoch(std::max(1, request.best_epoch()));
  trial.set_objective_value(MetricValue(request.validation(), metric));
  trial.set_train_seconds(request.train_seconds());
  const absl::Time now = absl::Now();
  *trial.mutable_finished_at() = ToTimestamp(now);
  if (stopped && !stop_reason.empty()) trial.set_error(stop_reason);
  vmle::v1::Study study = entry.study;
  if (request.has_dataset_profile() && !study.has_dataset_profile()) {
    *study.mutable_dataset_profile() = request.dataset_profile();
  }
  // The best and the noise by the evidence once this result counts (internal/ranking.h).
  vmle::v1::Study ranked = study;
  internal::Recount(entry, absl::MakeConstSpan(&trial, 1), ranked);
  const bool new_best = ranked.has_best() && ranked.best_trial_id() != study.best_trial_id();
  std::string noise;
  if (ranked.noise().degrees_of_freedom() > 0) {
    noise = absl::StrFormat("; seed noise %.1f%% (%d df)", 100 * ranked.noise().relative_sd(),
                            ranked.noise().degrees_of_freedom());
  }
  const std::string replicate =
      trial.proposal().replicate_of() > 0 ? absl::StrCat(" (replicate of trial ", trial.proposal().replicate_of(), ")")
                                          : "";
  events.push_back(StudyLedger::MakeEvent(entry,
                                          stopped ? StudyEvent::TYPE_TRIAL_STOPPED : StudyEvent::TYPE_TRIAL_FINISHED,
                             trial.id(),
                             absl::StrCat("trial ", trial.number(), replicate, stopped ? " stopped early" : " finished",
                                          ": ", Describe(metric, trial.objective_value()),
                                          new_best ? " (new best)" : "", noise)));
  events.back().set_value(trial.objective_value());
  if (new_best) {
    const std::string over =
        ranked.best_runs() > 1 ? absl::StrFormat(" ± %.4f, mean of %d seeds", ranked.best_sd(), ranked.best_runs())
                               : "";
    const int best_number = entry.number_of.contains(ranked.best_trial_id())
                                ? entry.number_of.at(ranked.best_trial_id())
                                : trial.number();
    events.push_back(StudyLedger::MakeEvent(entry, StudyEvent::TYPE_NEW_BEST, ranked.best_trial_id(),
                               absl::StrFormat("new best: trial %d, val %s %.4f%s", best_number, MetricLabel(metric),
                                               ranked.best_value(), over)));
    events.back().set_value(ranked.best_value());
  }
  RETURN_IF_ERROR(
      ledger_.WriteRecountedLocked(entry, std::move(ranked), absl::MakeConstSpan(&trial, 1), std::move(events)));
  metrics_.TrialTransition(stopped ? "stopped" : "succeeded");
  metrics_.TrialDuration(absl::ToDoubleSeconds(now - internal::FromTimestamp(trial.started_at())));
  workers_[trial.worker_id()] = {"idle", now};
  new_work_(entry);
  return ending_.CheckLocked(entry);
}

absl::Status LeaseQueue::Fail(const vmle::v1::FailTrialRequest& request) {
  const std::string cause = request.failure_cause().empty() ? "internal" : request.failure_cause();
  if (!IsWorkerFailureCause(cause)) {
    return absl::InvalidArgumentError(absl::StrCat("failure_cause: \"", TruncateForMessage(cause, 40),
                                                   "\" is not one of ", absl::StrJoin(kWorkerFailureCauses, ", ")));
  }
  absl::MutexLock lock(&ledger_.mu());
  ASSIGN_OR_RETURN(StudyEntry * entry, StudyOfTrialLocked(request.trial_id(), request.lease_id()));
  StudyLedger::WriteSlot slot(ledger_, *entry);
  RETURN_IF_ERROR(slot.Acquire(StudyLedger::kSlotWait));
  ASSIGN_OR_RETURN(Trial * trial, CheckLeaseLocked(*entry, request.trial_id(), request.lease_id()));
  workers_[trial->worker_id()] = {"idle", absl::Now()};
  // A worker's error text is kept, cut to what a report can show.
  return RequeueOrFailLocked(*entry, *trial, TruncateForMessage(request.error(), 4096), cause,
                             request.retryable());
}

absl::Status LeaseQueue::RequeueOrFailLocked(StudyEntry& entry, Trial trial, const std::string& error,
                                               const std::string& cause, bool retryable) {
  const int retries = entry.study.spec().budget().max_trial_retries();
  const bool live = entry.Active() && !entry.ending;
  std::vector<StudyEvent> events;
  if (live && retryable && trial.attempts() <= retries) {
    trial.set_status(vmle::v1::TRIAL_STATUS_QUEUED);
    trial.set_error(absl::StrCat("attempt ", trial.attempts(), ": ", cause, ": ", error));
    trial.clear_lease_id();
    trial.clear_worker_id();
    trial.clear_lease_expires_at();
    trial.clear_epochs();
    events.push_back(StudyLedger::MakeEvent(entry, StudyEvent::TYPE_TRIAL_QUEUED, trial.id(),
                               absl::StrCat("trial ", trial.number(), " queued again after ", cause, " (attempt ",
                                            trial.attempts(), " of ", 1 + retries, "): ", error)));
    RETURN_IF_ERROR(ledger_.CommitLocked(entry, entry.study, &trial, std::move(events)));
    entry.queue.push_front(trial.number());
    metrics_.TrialTransition("requeued");
    WakeLeasersLocked(entry);
    return absl::OkStatus();
  }
  // A study that is ending keeps what its lost trials reached as stopped trials.
  trial.set_status(live ? vmle::v1::TRIAL_STATUS_FAILED : vmle::v1::TRIAL_STATUS_STOPPED);
  trial.set_error(error);
  trial.set_failure_cause(cause);
  *trial.mutable_finished_at() = ToTimestamp(absl::Now());
  events.push_back(StudyLedger::MakeEvent(entry, live ? StudyEvent::TYPE_TRIAL_FAILED : StudyEvent::TYPE_TRIAL_STOPPED,
                             trial.id(), absl::StrCat("trial ", trial.number(), " failed (", cause, "): ", error)));
  RETURN_IF_ERROR(ledger_.CommitLocked(entry, entry.study, &trial, std::move(events)));
  metrics_.TrialTransition(live ? "failed" : "stopped");
  new_work_(entry);
  log::Warn("trial failed", {{"study", entry.study.id()}, {"trial", trial.id()}, {"cause", cause}, {"error", error}});
  if (live && cause == kCauseBadData) {
    // Every other trial would fail the same way: the dataset is unusable.
    vmle::v1::Study study = entry.study;
    study.set_error("dataset " + study.spec().dataset().name() + " cannot be used: " + error);
    RETURN_IF_ERROR(ledger_.CommitLocked(entry, study, nullptr, {}));
    return ending_.BeginLocked(entry, study.error(), vmle::v1::STUDY_STATE_FAILED);
  }
  return ending_.CheckLocked(entry);
}

}  // namespace vmle::agent
