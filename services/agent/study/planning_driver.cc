#include "services/agent/study/planning_driver.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"
#include "common/logging/logging.h"
#include "services/agent/evidence/evidence.h"
#include "services/agent/study/internal/study_entry.h"
#include "services/agent/study/internal/time_util.h"
#include "services/agent/study/objective.h"
#include "services/agent/study/report.h"
#include "services/agent/study/study_spec.h"

namespace vmle::agent {
namespace {

using internal::StudyEntry;
using internal::ToTimestamp;
using vmle::v1::StudyEvent;
using vmle::v1::Trial;

bool Evaluated(const Trial& t) {
  return (t.status() == vmle::v1::TRIAL_STATUS_SUCCEEDED || t.status() == vmle::v1::TRIAL_STATUS_FAILED ||
          t.status() == vmle::v1::TRIAL_STATUS_STOPPED) &&
         t.attempts() > 0;
}

// The seed plan of a proposal checked against the study: each trial it names exists
// and comes before `number`, and a replicate repeats its trial's configuration. A plan
// that does not hold is dropped (the trial gets a new seed) with a warning.
// `trial_at(n)`: trial n of the study, or of the proposals written with this one; null
// when there is none.
vmle::v1::Proposal CheckedSeedPlan(const std::string& study_id, const std::function<const Trial*(int)>& trial_at,
                                   vmle::v1::Proposal p, const vmle::v1::Configuration& config, int number) {
  auto known = [&](int n) { return n > 0 && n < number && trial_at(n) != nullptr; };
  bool ok = (p.derived_from() == 0 || known(p.derived_from())) && (p.seed_from() == 0 || known(p.seed_from())) &&
            (p.replicate_of() == 0 || known(p.replicate_of()));
  if (ok && p.replicate_of() > 0) {
    ok = evidence::ConfigurationKey(trial_at(p.replicate_of())->config()) == evidence::ConfigurationKey(config);
  }
  if (ok) return p;
  log::Warn("seed plan dropped: it names an unknown trial or a replicate of another configuration",
            {{"study", study_id}, {"trial", std::to_string(number)}});
  p.clear_derived_from();
  p.clear_replicate_of();
  p.clear_seed_from();
  return p;
}

}  // namespace

PlanningDriver::PlanningDriver(Options options, StudyLedger& ledger, StudyEnding& ending, MemoryClient& memory,
                               AgentMetrics& metrics, std::function<void(const StudyEntry&)> queued,
                               TrialHandoff* handoff)
    : options_(options), ledger_(ledger), ending_(ending), memory_(memory), metrics_(metrics),
      queued_(std::move(queued)), handoff_(handoff) {}

PlanningDriver::~PlanningDriver() { Stop(); }

void PlanningDriver::Start() {
  step_pool_ = std::make_unique<StepPool>(options_.planning_threads,
                                          [this](const std::string& study_id) { StepStudy(study_id); });
  thread_ = std::thread([this] { Loop(); });
}

void PlanningDriver::Stop() {
  {
    absl::MutexLock lock(&ledger_.mu());
    work_cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
  // A step running now sees the ledger stopping at its next check; none starts after this.
  if (step_pool_ != nullptr) step_pool_->Stop();
}

void PlanningDriver::NewWorkLocked(const std::string& study_id) {
  pending_.insert(study_id);
  work_cv_.SignalAll();
}

void PlanningDriver::RetryLocked(const StudyEntry& entry) { pending_.insert(entry.study.id()); }

void PlanningDriver::Loop() {
  for (;;) {
    const absl::StatusOr<int> loaded = ledger_.ReloadUnfinished();
    if (loaded.ok()) {
      log::Info("agent ready", {{"unfinished_studies", std::to_string(*loaded)}});
      break;
    }
    log::Warn("cannot load unfinished studies yet", {{"error", std::string(loaded.status().message())}});
    absl::MutexLock lock(&ledger_.mu());
    if (ledger_.StoppingLocked()) return;
    work_cv_.WaitWithTimeout(&ledger_.mu(), absl::Seconds(1));
  }
  absl::MutexLock lock(&ledger_.mu());
  all_pending_ = true;
  for (;;) {
    if (!all_pending_ && pending_.empty() && !ledger_.StoppingLocked()) {
      // A second without any event: every study is looked at (what no event announces).
      all_pending_ = work_cv_.WaitWithTimeout(&ledger_.mu(), absl::Seconds(1)) && pending_.empty();
    }
    if (ledger_.StoppingLocked()) return;
    if (all_pending_) {
      for (auto& [id, entry] : ledger_.StudiesLocked()) {
        if (entry->Active()) step_pool_->Queue(id);
      }
    } else {
      for (const std::string& id : pending_) {
        const StudyEntry* entry = ledger_.FindLocked(id);
        if (entry != nullptr && entry->Active()) step_pool_->Queue(id);
      }
    }
    all_pending_ = false;
    pending_.clear();
  }
}

void PlanningDriver::StepStudy(const std::string& study_id) {
  StudyEntry* entry = nullptr;
  {
    absl::MutexLock lock(&ledger_.mu());
    entry = ledger_.FindLocked(study_id);
    if (entry == nullptr || !entry->Active() || ledger_.StoppingLocked()) return;
  }
  ReflectPending(*entry);
  RecallIfReady(*entry);
  FinishIfDone(*entry);
  ProposeIfRoom(*entry);
}

PlanningContext PlanningDriver::ContextLocked(StudyEntry& entry) const {
  PlanningContext context;
  context.spec = entry.study.spec();
  context.space = entry.planner_space;
  for (auto& [number, state] : entry.trials) {
    // Planners read neither epochs nor test metrics: the epochs are moved aside
    // while the trial is copied, not copied and dropped.
    google::protobuf::RepeatedPtrField<vmle::v1::EpochMetrics> epochs;
    epochs.Swap(state.trial.mutable_epochs());
    Trial t = state.trial;
    epochs.Swap(state.trial.mutable_epochs());
    t.clear_test();
    if (Evaluated(t)) {
      context.history.push_back(std::move(t));
    } else if (t.status() == vmle::v1::TRIAL_STATUS_QUEUED || t.status() == vmle::v1::TRIAL_STATUS_RUNNING) {
      context.pending.push_back(std::move(t));
    }
  }
  if (entry.study.has_dataset_profile()) context.profile = entry.study.dataset_profile();
  context.recalled = entry.recalled;
  if (!entry.study.spec().planner().memory_off()) {
    context.reflections = entry.reflections;
    context.insights = entry.insights;
  }
  context.seed = entry.study.spec().seed();
  return context;
}

void PlanningDriver::ReflectPending(StudyEntry& entry) {
  PlanningContext context;
  std::vector<Trial> todo;
  {
    absl::MutexLock lock(&ledger_.mu());
    if (entry.planner == nullptr) return;
    for (const auto& [number, state] : entry.trials) {
      if (Evaluated(state.trial) && entry.reflected.count(number) == 0) todo.push_back(state.trial);
    }
    if (todo.empty()) return;
    if (entry.study.spec().planner().reflection_off()) {
      for (const Trial& t : todo) entry.reflected.insert(t.number());
      return;
    }
    context = ContextLocked(entry);
  }
  for (Trial& trial : todo) {
    trial.clear_test();
    absl::StatusOr<std::optional<vmle::v1::Reflection>> reflection = entry.planner->Reflect(context, trial);
    if (!reflection.ok()) {
      log::Warn("reflection failed", {{"study", trial.study_id()}, {"trial", trial.id()},
                                      {"error", std::string(reflection.status().message())}});
    }
    if (!reflection.ok() || !reflection->has_value()) {
      absl::MutexLock lock(&ledger_.mu());
      entry.reflected.insert(trial.number());
      continue;
    }
    vmle::v1::Reflection r = **reflection;
    r.set_study_id(trial.study_id());
    r.set_trial_id(trial.id());
    r.set_trial_number(trial.number());
    *r.mutable_created_at() = ToTimestamp(absl::Now());
    if (absl::Status s = memory_.PutReflection(r); !s.ok()) {
      // Reflected again on a later round.
      log::Warn("cannot store reflection", {{"trial", trial.id()}, {"error", std::string(s.message())}});
      absl::MutexLock lock(&ledger_.mu());
      RetryLocked(entry);
      return;
    }
    absl::MutexLock lock(&ledger_.mu());
    entry.reflected.insert(trial.number());
    entry.reflections.push_back(r);
    context.reflections = entry.reflections;
    StudyEvent event = StudyLedger::MakeEvent(entry, StudyEvent::TYPE_REFLECTION, trial.id(),
                                 absl::StrCat("reflection on trial ", trial.number(), ": ", r.observation()));
    StudyLedger::WriteSlot slot(ledger_, entry);
    absl::Status s = slot.Acquire(StudyLedger::kSlotWait);
    if (s.ok()) s = ledger_.CommitLocked(entry, entry.study, nullptr, {event});
    if (!s.ok()) {
      log::Warn("cannot record reflection event", {{"trial", trial.id()}, {"error", std::string(s.message())}});
    }
  }
  if (!context.spec.planner().memory_off()) ConsolidateInsights(entry, context);
}

void PlanningDriver::ConsolidateInsights(StudyEntry& entry, PlanningContext context) {
  absl::StatusOr<std::optional<vmle::v1::WorkingInsights>> insights = entry.planner->Consolidate(context);
  if (!insights.ok()) {
    log::Warn("consolidation failed", {{"study", context.spec.name()},
                                       {"error", std::string(insights.status().message())}});
    return;
  }
  if (!insights->has_value()) return;
  vmle::v1::WorkingInsights stored = **insights;
  {
    absl::MutexLock lock(&ledger_.mu());
    stored.set_study_id(entry.study.id());
    stored.set_through_trial(entry.reflections.empty() ? 0 : entry.reflections.back().trial_number());
  }
  *stored.mutable_updated_at() = ToTimestamp(absl::Now());
  if (absl::Status s = memory_.PutInsights(stored); !s.ok()) {
    log::Warn("cannot store working insights", {{"study", stored.study_id()}, {"error", std::string(s.message())}});
    return;
  }
  absl::MutexLock lock(&ledger_.mu());
  entry.insights = std::move(stored);
}

void PlanningDriver::RecallIfReady(StudyEntry& entry) {
  vmle::v1::Backbone backbone;
  vmle::v1::DatasetProfile profile;
  {
    absl::MutexLock lock(&ledger_.mu());
    if (entry.recall_done || !entry.study.has_dataset_profile()) return;
    if (entry.study.spec().planner().transfer_off()) {
      entry.recall_done = true;
      return;
    }
    backbone = entry.study.spec().backbone();
    profile = entry.study.dataset_profile();
  }
  absl::StatusOr<std::vector<vmle::v1::ScoredCognitionSummary>> found =
      memory_.RetrieveCognition(backbone, profile, options_.recall_k);
  absl::MutexLock lock(&ledger_.mu());
  if (!found.ok()) {
    log::Warn("cannot recall cognition summaries", {{"study", entry.study.id()},
                                                    {"error", std::string(found.status().message())}});
    return;
  }
  vmle::v1::Study study;
  std::vector<vmle::v1::CognitionSummary> recalled;
  for (const auto& scored : *found) {
    if (scored.summary().source_study_id() == entry.study.id()) continue;
    recalled.push_back(scored.summary());
  }
  if (!recalled.empty()) {
    StudyLedger::WriteSlot slot(ledger_, entry);
    if (!slot.Acquire(StudyLedger::kSlotWait).ok()) return;
    if (entry.study.recalled_summary_ids_size() > 0) {  // stored by a write whose answer was lost
      entry.recalled = std::move(recalled);
      entry.recall_done = true;
      return;
    }
    study = entry.study;  // as stored now
    for (const auto& summary : recalled) study.add_recalled_summary_ids(summary.id());
    if (absl::Status s = ledger_.CommitLocked(entry, study, nullptr, {}); !s.ok()) return;
    log::Info("recalled cognition summaries", {{"study", study.id()}, {"count", std::to_string(recalled.size())}});
  }
  entry.recalled = std::move(recalled);
  entry.recall_done = true;
}

void PlanningDriver::ProposeIfRoom(StudyEntry& entry) {
  PlanningContext context;
  Planner* planner = nullptr;
  {
    absl::MutexLock lock(&ledger_.mu());
    if (!entry.Active() || entry.ending || entry.exhausted || entry.planner == nullptr) return;
    const vmle::v1::Budget& budget = entry.study.spec().budget();
    const int busy = static_cast<int>(entry.queue.size()) + entry.running();
    int slots = std::min(budget.parallelism() - busy, budget.max_trials() - static_cast<int>(entry.trials.size()));
    if (slots <= 0) return;
    // Summaries are recalled once the first worker reports the dataset's profile (with
    // its first epoch). Until then the first round holds at its first trial, so that the
    // other slots start from what a recalled summary says instead of from the priors.
    if (!entry.recall_done && !entry.study.spec().planner().transfer_off() && entry.planner->UsesRecall()) {
      if (!entry.trials.empty() && busy > 0) return;
      slots = 1;
    }
    context = ContextLocked(entry);
    context.max_proposals = slots;
    planner = entry.planner.get();
  }
  const absl::Time started = absl::Now();
  absl::StatusOr<std::vector<PlannedTrial>> proposals = planner->Propose(context);
  metrics_.PlanningSeconds(absl::ToDoubleSeconds(absl::Now() - started));
  // Waiting calls leased to by this round's write: answered once the lock is released
  // (destroyed after `lock`).
  struct AnsweredOnExit {
    LeaseLine::Taken calls;
    ~AnsweredOnExit() {
      for (auto& call : calls) call->Answer();
    }
  } handed;
  absl::MutexLock lock(&ledger_.mu());
  StudyLedger::WriteSlot slot(ledger_, entry);
  if (!slot.Acquire(StudyLedger::kSlotWait).ok()) {
    RetryLocked(entry);  // try again on the next round
    return;
  }
  if (!entry.Active() || entry.ending) return;
  if (!proposals.ok()) {
    FailStudyLocked(entry, absl::StrCat("planner ", planner->Name(), " failed: ", proposals.status().message()));
    return;
  }
  if (proposals->empty()) {
    if (context.pending.empty()) {
      entry.exhausted = true;
      RetryLocked(entry);
    }
    return;
  }
  // Room as it is now: re-reading the study for the slot may have found more trials.
  const vmle::v1::Budget& budget = entry.study.spec().budget();
  const int room = std::min(budget.parallelism() - static_cast<int>(entry.queue.size()) - entry.running(),
                            budget.max_trials() - static_cast<int>(entry.trials.size()));
  const int limit = std::min({context.max_proposals, static_cast<int>(proposals->size()), room});
  // Every proposal of the round in one write.
  std::vector<Trial> trials;
  std::vector<StudyEvent> events;
  auto trial_at = [&](int n) -> const Trial* {
    if (auto it = entry.trials.find(n); it != entry.trials.end()) return &it->second.trial;
    for (const Trial& t : trials) {
      if (t.number() == n) return &t;
    }
    return nullptr;
  };
  trials.reserve(static_cast<size_t>(std::max(0, limit)));
  for (int i = 0; i < limit; ++i) {
    const PlannedTrial& planned = (*proposals)[i];
    absl::StatusOr<vmle::v1::Configuration> config =
        TrialConfiguration(entry.study.spec(), entry.space, planned);
    if (!config.ok()) {
      FailStudyLocked(entry, absl::StrCat("planner ", planner->Name(), " proposed an invalid configuration: ",
                                          config.status().message()));
      return;
    }
    const int number = (entry.trials.empty() ? 0 : entry.trials.rbegin()->first) + 1 + i;
    Trial trial;
    trial.set_id(absl::StrCat(entry.study.id(), "-t", number));
    trial.set_study_id(entry.study.id());
    trial.set_number(number);
    *trial.mutable_config() = *config;
    *trial.mutable_proposal() = CheckedSeedPlan(entry.study.id(), trial_at, planned.proposal, *config, number);
    if (trial.proposal().planner().empty()) trial.mutable_proposal()->set_planner(planner->Name());
    trial.set_status(vmle::v1::TRIAL_STATUS_QUEUED);
    *trial.mutable_queued_at() = ToTimestamp(absl::Now());
    // Paired with the trial the plan names (the same seed), else a new seed.
    const int seed_from = trial.proposal().seed_from();
    trial.set_seed(seed_from > 0 ? trial_at(seed_from)->seed()
                                 : evidence::FreshSeed(entry.study.spec().seed(), number));
    events.push_back(StudyLedger::MakeEvent(entry, StudyEvent::TYPE_TRIAL_QUEUED, trial.id(),
                               absl::StrCat("trial ", number, " queued: ",
                                            planned.proposal.hypothesis().empty() ? planner->Name()
                                                                                  : planned.proposal.hypothesis())));
    if (planned.proposal.fallback()) {
      events.push_back(StudyLedger::MakeEvent(entry, StudyEvent::TYPE_PLANNER_FALLBACK, trial.id(),
                                 "planner fell back: " + planned.proposal.fallback_reason()));
    }
    trials.push_back(std::move(trial));
  }
  if (trials.empty()) return;
  vmle::v1::Study study = entry.study;
  if (study.state() == vmle::v1::STUDY_STATE_PENDING) study.set_state(vmle::v1::STUDY_STATE_RUNNING);
  // Workers waiting now get the first trials by this same write.
  if (handoff_ != nullptr) handed.calls = handoff_->AssignLocked(entry, trials, events);
  const absl::Status written = ledger_.CommitLocked(entry, std::move(study), trials, std::move(events));
  if (handoff_ != nullptr) handoff_->SettleLocked(entry, trials, written, handed.calls);
  if (!written.ok()) {
    RetryLocked(entry);  // try again on the next round
    return;
  }
  for (const Trial& t : trials) {
    metrics_.TrialTransition("queued");
    if (t.status() == vmle::v1::TRIAL_STATUS_QUEUED) entry.queue.push_back(t.number());
  }
  queued_(entry);
}

void PlanningDriver::FailStudyLocked(StudyEntry& entry, const std::string& error) {
  log::Error("study failed", {{"study", entry.study.id()}, {"error", error}});
  vmle::v1::Study study = entry.study;
  study.set_error(error);
  if (absl::Status s = ledger_.CommitLocked(entry, study, nullptr, {}); !s.ok()) return;
  if (absl::Status s = ending_.BeginLocked(entry, error, vmle::v1::STUDY_STATE_FAILED); !s.ok()) {
    log::Warn("cannot end study yet", {{"study", entry.study.id()}, {"error", std::string(s.message())}});
  }
}

void PlanningDriver::FinishIfDone(StudyEntry& entry) {
  PlanningContext context;
  vmle::v1::StudyState final_state;
  std::string reason;
  {
    absl::MutexLock lock(&ledger_.mu());
    if (!entry.Active() || !entry.queue.empty() || entry.running() > 0) return;
    const int max_trials = entry.study.spec().budget().max_trials();
    if (entry.ending) {
      final_state = entry.final_state;
      reason = entry.end_reason;
    } else if (static_cast<int>(entry.trials.size()) >= max_trials) {
      final_state = vmle::v1::STUDY_STATE_SUCCEEDED;
      reason = absl::StrCat("budget of ", max_trials, " trials used");
    } else if (entry.exhausted) {
      final_state = vmle::v1::STUDY_STATE_SUCCEEDED;
      reason = "search space exhausted";
    } else {
      return;
    }
    context = ContextLocked(entry);
  }
  std::optional<vmle::v1::CognitionSummary> summary;
  if (final_state == vmle::v1::STUDY_STATE_SUCCEEDED && entry.planner != nullptr) {
    absl::StatusOr<std::optional<vmle::v1::CognitionSummary>> distilled = entry.planner->Distill(context);
    if (distilled.ok()) {
      summary = *std::move(distilled);
    } else {
      log::Warn("distillation failed", {{"study", context.spec.name()},
                                        {"error", std::string(distilled.status().message())}});
    }
  }
  std::string message = absl::StrCat("study finished: ", reason);
  if (summary.has_value()) {
    {
      absl::MutexLock lock(&ledger_.mu());
      const vmle::v1::Study& study = entry.study;
      summary->set_id(CognitionId(study.id()));
      summary->set_source_study_id(study.id());
      summary->set_backbone(study.spec().backbone());
      if (summary->dataset_name().empty()) summary->set_dataset_name(study.spec().dataset().name());
      if (study.has_dataset_profile()) *summary->mutable_dataset_profile() = study.dataset_profile();
      summary->set_objective_metric(study.spec().objective().metric());
    }
    *summary->mutable_created_at() = ToTimestamp(absl::Now());
    if (absl::StatusOr<std::string> id = memory_.PutCognitionSummary(*summary); !id.ok()) {
      log::Warn("cannot store cognition summary",
                {{"study", summary->source_study_id()}, {"error", std::string(id.status().message())}});
      absl::MutexLock lock(&ledger_.mu());
      RetryLocked(entry);  // finish on a later round, with the summary
      return;
    }
    absl::StrAppend(&message, "; cognition summary ", summary->id(), " stored (", summary->rules_size(), " rules)");
  }
  absl::MutexLock lock(&ledger_.mu());
  StudyLedger::WriteSlot slot(ledger_, entry);
  if (!slot.Acquire(StudyLedger::kSlotWait).ok()) {
    RetryLocked(entry);
    return;
  }
  if (!entry.Active() || !entry.queue.empty() || entry.running() > 0) return;
  vmle::v1::Study study = entry.study;
  study.set_state(final_state);
  study.set_end_reason(reason);
  if (final_state == vmle::v1::STUDY_STATE_FAILED && study.error().empty()) study.set_error(reason);
  *study.mutable_finished_at() = ToTimestamp(absl::Now());
  StudyEvent finished = StudyLedger::MakeEvent(entry, StudyEvent::TYPE_STUDY_FINISHED, "", message);
  finished.set_value(study.best_value());
  if (absl::Status s = ledger_.CommitLocked(entry, study, nullptr, {finished}); !s.ok()) {
    RetryLocked(entry);
    return;
  }
  metrics_.RemoveBest(study.id());
  log::Info("study finished", {{"study", study.id()}, {"reason", reason}});
}

}  // namespace vmle::agent
