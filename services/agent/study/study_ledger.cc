#include "services/agent/study/study_ledger.h"

#include <algorithm>
#include <deque>

#include "absl/strings/str_cat.h"
#include "common/logging/logging.h"
#include "common/status/message.h"
#include "common/status/status_macros.h"
#include "services/agent/study/internal/ranking.h"
#include "services/agent/study/internal/time_util.h"
#include "services/agent/study/study_spec.h"

namespace vmle::agent {

using internal::FromTimestamp;
using internal::ToTimestamp;
using vmle::v1::StudyEvent;
using vmle::v1::Trial;

StudyLedger::StudyLedger(Options options)
    : options_(std::move(options)),
      memory_(*options_.memory),
      lookup_(memory_.WithOptions(MemoryClient::Options{.call_timeout = absl::Seconds(1), .max_attempts = 1})),
      watch_hub_(*options_.watch_hub) {}

void StudyLedger::Stop() {
  memory_.Shutdown();
  lookup_->Shutdown();
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  for (auto& [id, entry] : studies_) entry->slot_cv.SignalAll();
}

absl::StatusOr<int> StudyLedger::ReloadUnfinished() {
  ASSIGN_OR_RETURN(std::vector<vmle::v1::Study> studies,
                   memory_.ListStudies({vmle::v1::STUDY_STATE_PENDING, vmle::v1::STUDY_STATE_RUNNING}));
  std::vector<std::unique_ptr<StudyEntry>> loaded;
  for (const vmle::v1::Study& study : studies) {
    absl::StatusOr<std::unique_ptr<StudyEntry>> entry = LoadEntry(study, memory_);
    if (absl::IsUnavailable(entry.status())) return entry.status();
    if (!entry.ok()) {
      log::Error("cannot resume study", {{"study", study.id()}, {"error", std::string(entry.status().message())}});
      continue;
    }
    loaded.push_back(*std::move(entry));
  }
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("the agent is shutting down");
  for (std::unique_ptr<StudyEntry>& entry : loaded) {
    log::Info("resuming study", {{"study", entry->study.id()},
                                 {"trials", std::to_string(entry->trials.size())},
                                 {"queued", std::to_string(entry->queue.size())},
                                 {"running", std::to_string(entry->running())}});
    HoldLocked(std::move(entry));
  }
  loaded_ = true;
  return static_cast<int>(loaded.size());
}

absl::Status StudyLedger::CheckServingLocked() const {
  if (stopping_) return absl::UnavailableError("the agent is shutting down");
  if (!loaded_) {
    return absl::UnavailableError("the agent is loading its studies from the memory service; retry shortly");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<StudyLedger::StudyEntry>> StudyLedger::NewEntry(const vmle::v1::Study& study) const {
  auto entry = std::make_unique<StudyEntry>();
  entry->study = study;
  ASSIGN_OR_RETURN(entry->space, StudySearchSpace(study.spec()));
  ASSIGN_OR_RETURN(entry->planner_space, PlannerSearchSpace(study.spec()));
  absl::StatusOr<std::unique_ptr<Planner>> planner = options_.make_planner(study.spec().planner(), study.id());
  if (planner.ok()) {
    entry->planner = *std::move(planner);
  } else if (entry->Active()) {
    return planner.status();
  }
  entry->run_started = FromTimestamp(study.created_at());
  return entry;
}

absl::StatusOr<std::unique_ptr<StudyLedger::StudyEntry>> StudyLedger::LoadEntry(const vmle::v1::Study& stored,
                                                                                MemoryClient& memory) {
  vmle::v1::Study study = stored;
  TypeStoredValues(*study.mutable_spec()->mutable_fixed());
  ASSIGN_OR_RETURN(std::unique_ptr<StudyEntry> entry, NewEntry(study));
  ASSIGN_OR_RETURN(std::vector<Trial> trials, memory.ListTrials(study.id()));
  const absl::Time now = absl::Now();
  for (Trial& t : trials) {
    TypeStoredValues(*t.mutable_config());
    internal::TrialState& state = entry->trials[t.number()];
    entry->number_of[t.id()] = t.number();
    if (t.status() == vmle::v1::TRIAL_STATUS_QUEUED) entry->queue.push_back(t.number());
    // A running trial's worker may still be alive: give it a full lease to check in.
    if (t.status() == vmle::v1::TRIAL_STATUS_RUNNING) {
      state.lease_deadline = options_.workers_survive_restart ? now + options_.lease_duration : now;
    }
    state.trial = std::move(t);
  }
  ASSIGN_OR_RETURN(std::vector<StudyEvent> events, memory.ListEvents(study.id(), 0));
  for (const StudyEvent& e : events) {
    entry->next_sequence = std::max(entry->next_sequence, e.sequence() + 1);
    if (e.type() == StudyEvent::TYPE_STUDY_RESUMED) {
      entry->run_started = FromTimestamp(e.time());
      entry->first_trial_of_run = static_cast<int>(e.value());
    }
  }
  ASSIGN_OR_RETURN(entry->reflections, memory.ListReflections(study.id()));
  for (const auto& r : entry->reflections) entry->reflected.insert(r.trial_number());
  absl::StatusOr<vmle::v1::WorkingInsights> insights = memory.GetInsights(study.id());
  if (insights.ok()) {
    entry->insights = *std::move(insights);
  } else if (!absl::IsNotFound(insights.status())) {
    return insights.status();
  }
  for (const std::string& id : study.recalled_summary_ids()) {
    absl::StatusOr<vmle::v1::CognitionSummary> summary = memory.GetCognitionSummary(id);
    if (absl::IsUnavailable(summary.status())) return summary.status();
    if (summary.ok()) entry->recalled.push_back(*std::move(summary));
  }
  entry->recall_done = !study.recalled_summary_ids().empty();
  watch_hub_.Publish(study.id(), std::move(events), entry->Ended(), entry->study.version());
  return entry;
}

StudyLedger::StudyEntry* StudyLedger::HoldLocked(std::unique_ptr<StudyEntry> entry) {
  const std::string id = entry->study.id();
  auto [it, added] = studies_.try_emplace(id, std::move(entry));
  if (added) {
    for (const auto& [number, t] : it->second->trials) study_of_trial_[t.trial.id()] = id;
  }
  return it->second.get();
}

StudyLedger::StudyEntry* StudyLedger::FindLocked(const std::string& study_id) {
  auto it = studies_.find(study_id);
  return it == studies_.end() ? nullptr : it->second.get();
}

absl::StatusOr<StudyLedger::StudyEntry*> StudyLedger::FindOrLoadLocked(const std::string& study_id) {
  if (study_id.empty()) return absl::InvalidArgumentError("study_id: required");
  if (StudyEntry* e = FindLocked(study_id); e != nullptr) return e;
  mu_.Unlock();
  absl::StatusOr<std::unique_ptr<StudyEntry>> entry = [&]() -> absl::StatusOr<std::unique_ptr<StudyEntry>> {
    absl::StatusOr<vmle::v1::Study> study = lookup_->GetStudy(study_id);
    if (absl::IsNotFound(study.status())) {
      return absl::NotFoundError("no study with id \"" + TruncateForMessage(study_id, 200) + "\"");
    }
    if (!study.ok()) return study.status();
    return LoadEntry(*study, *lookup_);
  }();
  mu_.Lock();
  if (StudyEntry* e = FindLocked(study_id); e != nullptr) return e;  // loaded meanwhile
  if (!entry.ok()) return entry.status();
  return HoldLocked(*std::move(entry));
}

absl::StatusOr<StudyLedger::StudyEntry*> StudyLedger::StudyOfTrialLocked(const std::string& trial_id) {
  auto it = study_of_trial_.find(trial_id);
  StudyEntry* entry = it == study_of_trial_.end() ? nullptr : FindLocked(it->second);
  if (entry == nullptr || !entry->number_of.contains(trial_id)) {
    return absl::NotFoundError("no trial with id \"" + TruncateForMessage(trial_id, 200) + "\"");
  }
  return entry;
}

absl::StatusOr<StudyLedger::StudyEntry*> StudyLedger::CreateLocked(std::unique_ptr<StudyEntry> entry,
                                                                   std::vector<StudyEvent> events) {
  const std::string id = entry->study.id();
  if (studies_.count(id) > 0) return absl::AlreadyExistsError(absl::StrCat("study ", id, " exists"));
  // Nobody else sees the new entry until it is stored.
  entry->writing = true;
  RETURN_IF_ERROR(CommitLocked(*entry, entry->study, nullptr, std::move(events)));
  entry->writing = false;
  // Another caller cannot have created it meanwhile: ids are unique per submission.
  return HoldLocked(std::move(entry));
}

StudyLedger::WriteSlot::~WriteSlot() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (!held_) return;
  entry_.writing = false;
  entry_.slot_cv.SignalAll();
  if (ledger_.options_.slot_released) ledger_.options_.slot_released(entry_);
}

absl::Status StudyLedger::WriteSlot::Acquire(absl::Duration wait) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  ledger_.mu_.AssertHeld();
  const absl::Time deadline = absl::Now() + wait;
  while (entry_.writing) {
    if (ledger_.stopping_) return absl::UnavailableError("the agent is shutting down");
    if (entry_.slot_cv.WaitWithDeadline(&ledger_.mu_, deadline) && entry_.writing) {
      return absl::UnavailableError(absl::StrCat("study ", entry_.study.id(),
                                                 " is waiting for the memory service to store its last change; retry"));
    }
  }
  entry_.writing = held_ = true;
  if (entry_.stale) return ledger_.RefreshLocked(entry_);
  return absl::OkStatus();
}

absl::Status StudyLedger::RefreshLocked(StudyEntry& entry) {
  const std::string id = entry.study.id();
  const int64_t after = entry.next_sequence - 1;
  mu_.Unlock();
  absl::StatusOr<vmle::v1::Study> study = memory_.GetStudy(id);
  absl::StatusOr<std::vector<Trial>> trials =
      study.ok() ? memory_.ListTrials(id) : absl::StatusOr<std::vector<Trial>>(study.status());
  absl::StatusOr<std::vector<StudyEvent>> events =
      trials.ok() ? memory_.ListEvents(id, after) : absl::StatusOr<std::vector<StudyEvent>>(trials.status());
  mu_.Lock();
  if (!events.ok()) return events.status();
  const absl::Time now = absl::Now();
  entry.study = *std::move(study);
  for (Trial& t : *trials) {
    internal::TrialState& state = entry.trials[t.number()];
    // A lease stored by a write whose caller gave up was handed to no worker: it
    // expires now and the trial is queued again.
    if (t.status() == vmle::v1::TRIAL_STATUS_RUNNING && t.lease_id() != state.trial.lease_id()) {
      state.lease_deadline = now;
    }
    entry.number_of[t.id()] = t.number();
    study_of_trial_[t.id()] = id;
    state.trial = std::move(t);
  }
  // The queue keeps its order; trials queued by the write that landed join at its end.
  std::deque<int> kept;
  for (int number : entry.queue) {
    if (entry.trials[number].trial.status() == vmle::v1::TRIAL_STATUS_QUEUED) kept.push_back(number);
  }
  for (const auto& [number, state] : entry.trials) {
    if (state.trial.status() == vmle::v1::TRIAL_STATUS_QUEUED &&
        std::find(kept.begin(), kept.end(), number) == kept.end()) {
      kept.push_back(number);
    }
  }
  entry.queue = std::move(kept);
  for (const StudyEvent& e : *events) entry.next_sequence = std::max(entry.next_sequence, e.sequence() + 1);
  entry.stale = false;
  log::Info("study re-read from the memory service", {{"study", id}, {"version", std::to_string(entry.study.version())}});
  watch_hub_.Publish(id, *std::move(events), entry.Ended(), entry.study.version());
  return absl::OkStatus();
}

StudyEvent StudyLedger::MakeEvent(const StudyEntry& entry, StudyEvent::Type type, const std::string& trial_id,
                                  std::string message) {
  StudyEvent e;
  e.set_study_id(entry.study.id());
  e.set_type(type);
  *e.mutable_time() = ToTimestamp(absl::Now());
  e.set_trial_id(trial_id);
  e.set_message(std::move(message));
  return e;
}

absl::Status StudyLedger::CommitLocked(StudyEntry& entry, vmle::v1::Study study, absl::Span<const Trial> trials,
                                       std::vector<StudyEvent> events) {
  internal::Recount(entry, trials, study);
  return WriteRecountedLocked(entry, std::move(study), trials, std::move(events));
}

absl::Status StudyLedger::WriteRecountedLocked(StudyEntry& entry, vmle::v1::Study study,
                                               absl::Span<const Trial> trials, std::vector<StudyEvent> events) {
  *study.mutable_updated_at() = ToTimestamp(absl::Now());
  for (size_t i = 0; i < events.size(); ++i) {
    events[i].set_sequence(entry.next_sequence + static_cast<int64_t>(i));
    events[i].set_study_state(study.state());
  }
  const int64_t expected = entry.study.version();
  mu_.Unlock();
  absl::StatusOr<int64_t> version = memory_.Commit(trials, study, events, expected);
  mu_.Lock();
  if (!version.ok()) {
    log::Warn("memory write failed", {{"study", study.id()}, {"error", std::string(version.status().message())}});
    const absl::Status& s = version.status();
    if (absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) || absl::IsAborted(s)) {
      // Whether it landed is unknown (or the stored study moved on): read it back first.
      entry.stale = true;
      return absl::UnavailableError(absl::StrCat("the memory service did not store the change (",
                                                 TruncateForMessage(s.message(), 200), "); retry"));
    }
    return s;
  }
  study.set_version(*version);
  entry.study = std::move(study);
  for (const Trial& trial : trials) {
    entry.trials[trial.number()].trial = trial;
    entry.number_of[trial.id()] = trial.number();
    study_of_trial_[trial.id()] = entry.study.id();
  }
  entry.next_sequence += static_cast<int64_t>(events.size());
  watch_hub_.Publish(entry.study.id(), std::move(events), entry.Ended(), entry.study.version());
  return absl::OkStatus();
}

}  // namespace vmle::agent
