#include "services/agent/study/study_manager.h"

#include <algorithm>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging/logging.h"
#include "common/space/space_proto.h"
#include "common/status/message.h"
#include "common/status/status_macros.h"
#include "google/protobuf/util/message_differencer.h"
#include "prometheus/registry.h"
#include "services/agent/planner/planner_factory.h"
#include "services/agent/study/internal/ranking.h"
#include "services/agent/study/internal/study_entry.h"
#include "services/agent/study/internal/study_state.h"
#include "services/agent/study/internal/time_util.h"
#include "services/agent/study/objective.h"
#include "services/agent/study/report.h"

namespace vmle::agent {
namespace {

using internal::Finished;
using internal::FromTimestamp;
using internal::StateName;
using internal::StudyEntry;
using internal::ToTimestamp;
using vmle::v1::StudyEvent;
using vmle::v1::StudyState;
using vmle::v1::Trial;

std::string NewStudyId() {
  static std::mt19937_64 rng{std::random_device{}()};
  static absl::Mutex rng_mu;
  absl::MutexLock lock(&rng_mu);
  // 32 random bits: dozens of studies submitted in one second must not meet (16 bits
  // collided at 64 studies a second).
  return absl::StrCat("st-", absl::FormatTime("%Y%m%d-%H%M%S", absl::Now(), absl::UTCTimeZone()), "-",
                      absl::StrFormat("%08x", rng() & 0xffffffffu));
}

constexpr size_t kMaxRequestIdBytes = 128;

// The study id of a caller's request id: one caller's ids never meet another's.
std::string RequestStudyId(const std::string& caller, const std::string& request_id) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : caller) h = (h ^ c) * 1099511628211ULL;
  h = (h ^ 0xff) * 1099511628211ULL;  // no caller/request split collides with another
  for (unsigned char c : request_id) h = (h ^ c) * 1099511628211ULL;
  return absl::StrFormat("st-req-%016x", h);
}

// One page of `all`. A page token is the offset an earlier page returned; anything
// else (garbage, negative, past the end) is refused rather than read as page 1.
template <typename T>
absl::StatusOr<std::vector<T>> Page(const std::vector<T>& all, int page_size, const std::string& token,
                                    std::string* next) {
  size_t start = 0;
  if (!token.empty()) {
    uint64_t parsed = 0;
    if (!absl::SimpleAtoi(token, &parsed) || token.find_first_not_of("0123456789") != std::string::npos ||
        parsed > all.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("page_token: \"", TruncateForMessage(token, 40), "\" is not a token this list returned"));
    }
    start = static_cast<size_t>(parsed);
  }
  const size_t size = page_size <= 0 ? 100 : std::min(page_size, 1000);
  std::vector<T> out;
  for (size_t i = start; i < all.size() && out.size() < size; ++i) out.push_back(all[i]);
  *next = start + out.size() < all.size() ? std::to_string(start + out.size()) : "";
  return out;
}

}  // namespace

StudyManager::StudyManager(Options options)
    : options_(std::move(options)),
      memory_(*options_.memory),
      lookup_(memory_.WithOptions(MemoryClient::Options{.call_timeout = absl::Seconds(1),
                                                        .max_attempts = 1})) {
  if (options_.registry != nullptr) {
    metrics_ = std::make_unique<AgentMetrics>(*options_.registry);
  } else {
    own_registry_ = std::make_shared<prometheus::Registry>();
    metrics_ = std::make_unique<AgentMetrics>(*own_registry_);
  }
}

absl::StatusOr<std::unique_ptr<StudyManager>> StudyManager::Start(Options options) {
  if (options.memory == nullptr) return absl::InvalidArgumentError("StudyManager needs a memory client");
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  if (!options.make_planner) {
    options.make_planner = [registry = options.registry, cancel,
                            llm = std::make_shared<const llm::LlmConfig>(options.llm)](
                               const vmle::v1::PlannerSpec& spec, const std::string& study_id) {
      return MakePlanner(spec, PlannerEnvironment{registry, cancel, llm.get(), study_id});
    };
  }
  std::unique_ptr<StudyManager> manager(new StudyManager(std::move(options)));
  StudyManager* m = manager.get();
  m->cancel_calls_ = std::move(cancel);
  m->step_pool_ = std::make_unique<StepPool>(m->options_.planning_threads,
                                             [m](const std::string& study_id) { m->StepStudy(study_id); });
  m->planning_thread_ = std::thread([m] { m->PlanningLoop(); });
  m->sweep_thread_ = std::thread([m] { m->SweepLoop(); });
  for (int i = 0; i < std::max(1, m->options_.lease_threads); ++i) {
    m->lease_threads_.emplace_back([m, i] { m->LeaseLoop(/*sweeps=*/i == 0); });
  }
  return manager;
}

StudyManager::~StudyManager() { Stop(); }

void StudyManager::Stop() {
  memory_.Shutdown();
  lookup_->Shutdown();
  if (cancel_calls_ != nullptr) cancel_calls_->store(true);
  LeaseLine::Taken waiting;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (auto& [id, entry] : studies_) entry->slot_cv.SignalAll();
    work_cv_.SignalAll();
    waiting = lease_line_.TakeAll();
  }
  {
    absl::MutexLock lock(&arrivals_mu_);
    lease_stop_ = true;
    for (auto& w : arrivals_) waiting.push_back(std::move(w));
    arrivals_.clear();
  }
  for (auto& w : waiting) {
    w->result = absl::UnavailableError("the agent is shutting down");
    w->Answer();
  }
  // A lease thread in a write answers its callers before it returns.
  for (std::thread& t : lease_threads_) {
    if (t.joinable()) t.join();
  }
  watch_hub_.Stop();
  if (planning_thread_.joinable()) planning_thread_.join();
  // A step running now sees stopping_ at its next check; none starts after this.
  if (step_pool_ != nullptr) step_pool_->Stop();
  if (sweep_thread_.joinable()) sweep_thread_.join();
}

absl::Status StudyManager::ReloadUnfinished() {
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
    const vmle::v1::Study& study = entry->study;
    for (const auto& [number, t] : entry->trials) study_of_trial_[t.trial.id()] = study.id();
    log::Info("resuming study", {{"study", study.id()},
                                 {"trials", std::to_string(entry->trials.size())},
                                 {"queued", std::to_string(entry->queue.size())},
                                 {"running", std::to_string(entry->running())}});
    const std::string id = study.id();
    studies_.try_emplace(id, std::move(entry));
  }
  loaded_ = true;
  work_pending_ = true;
  log::Info("agent ready", {{"unfinished_studies", std::to_string(studies.size())}});
  return absl::OkStatus();
}

absl::Status StudyManager::CheckServingLocked() const {
  if (stopping_) return absl::UnavailableError("the agent is shutting down");
  if (!loaded_) {
    return absl::UnavailableError("the agent is loading its studies from the memory service; retry shortly");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<StudyEntry>> StudyManager::NewEntry(const vmle::v1::Study& study) {
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

absl::StatusOr<std::unique_ptr<StudyEntry>> StudyManager::LoadEntry(const vmle::v1::Study& study,
                                                                    MemoryClient& memory) {
  ASSIGN_OR_RETURN(std::unique_ptr<StudyEntry> entry, NewEntry(study));
  ASSIGN_OR_RETURN(std::vector<Trial> trials, memory.ListTrials(study.id()));
  const absl::Time now = absl::Now();
  for (Trial& t : trials) {
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

StudyEntry* StudyManager::FindLocked(const std::string& study_id) {
  auto it = studies_.find(study_id);
  return it == studies_.end() ? nullptr : it->second.get();
}

absl::StatusOr<StudyEntry*> StudyManager::FindOrLoadLocked(const std::string& study_id) {
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
  for (const auto& [number, t] : (*entry)->trials) study_of_trial_[t.trial.id()] = study_id;
  StudyEntry* raw = entry->get();
  studies_.try_emplace(study_id, *std::move(entry));
  return raw;
}

StudyManager::WriteSlot::~WriteSlot() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (!held_) return;
  entry_.writing = false;
  entry_.slot_cv.SignalAll();
  // Leases skip a study while it writes: waiting callers may lease from it now, if it
  // has anything queued.
  manager_.WakeLeasersLocked(entry_);
}

void StudyManager::WakeLeasersLocked(const StudyEntry& entry) {
  if (entry.writing || entry.queue.empty() || !lease_line_.AnyMatching(entry.study.spec().device())) return;
  WakeALeaseThread();
}

void StudyManager::WakeALeaseThread() {
  // Waiters on arrivals_mu_ see the flag when it is released (absl::Condition).
  absl::MutexLock lock(&arrivals_mu_);
  lease_wake_ = true;
}

absl::Status StudyManager::WriteSlot::Acquire(absl::Duration wait) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  manager_.mu_.AssertHeld();
  const absl::Time deadline = absl::Now() + wait;
  while (entry_.writing) {
    if (manager_.stopping_) return absl::UnavailableError("the agent is shutting down");
    if (entry_.slot_cv.WaitWithDeadline(&manager_.mu_, deadline) && entry_.writing) {
      return absl::UnavailableError(absl::StrCat("study ", entry_.study.id(),
                                                 " is waiting for the memory service to store its last change; retry"));
    }
  }
  entry_.writing = held_ = true;
  if (entry_.stale) return manager_.RefreshLocked(entry_);
  return absl::OkStatus();
}

absl::Status StudyManager::RefreshLocked(StudyEntry& entry) {
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

StudyEvent StudyManager::MakeEvent(const StudyEntry& entry, StudyEvent::Type type, const std::string& trial_id,
                                   std::string message) const {
  StudyEvent e;
  e.set_study_id(entry.study.id());
  e.set_type(type);
  *e.mutable_time() = ToTimestamp(absl::Now());
  e.set_trial_id(trial_id);
  e.set_message(std::move(message));
  return e;
}

absl::Status StudyManager::CommitLocked(StudyEntry& entry, vmle::v1::Study study, absl::Span<const Trial> trials,
                                        std::vector<StudyEvent> events) {
  for (const Trial& trial : trials) internal::Recount(entry, trial, study);
  return WriteRecountedLocked(entry, std::move(study), trials, std::move(events));
}

absl::Status StudyManager::WriteRecountedLocked(StudyEntry& entry, vmle::v1::Study study,
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

absl::StatusOr<vmle::v1::Study> StudyManager::Submit(const vmle::v1::SubmitStudyRequest& request,
                                                     const std::string& caller) {
  if (request.request_id().size() > kMaxRequestIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("request_id: ", request.request_id().size(), " bytes exceed ", kMaxRequestIdBytes));
  }
  ASSIGN_OR_RETURN(vmle::v1::StudySpec spec, NormalizeStudySpec(request.spec(), options_.limits));
  std::string id = request.request_id().empty() ? NewStudyId() : RequestStudyId(caller, request.request_id());
  absl::MutexLock submitting(&submit_mu_);
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckServingLocked());
  // A generated id names a study of this second, which this agent holds if it exists.
  while (request.request_id().empty() && studies_.count(id) > 0) id = NewStudyId();
  if (!request.request_id().empty()) {
    absl::StatusOr<StudyEntry*> existing = FindOrLoadLocked(id);
    if (existing.ok()) {
      vmle::v1::StudySpec stored = (*existing)->study.spec();
      // A resumed study's budget grew after submission; the rest must match.
      stored.mutable_budget()->set_max_trials(spec.budget().max_trials());
      if (!google::protobuf::util::MessageDifferencer::Equivalent(stored, spec)) {
        return absl::AlreadyExistsError(absl::StrCat("request_id: already used for study ", id,
                                                     " with a different spec; use a new request_id"));
      }
      return (*existing)->study;
    }
    if (!absl::IsNotFound(existing.status())) return existing.status();
  }
  RETURN_IF_ERROR(CheckActiveStudiesLocked());
  vmle::v1::Study study;
  study.set_id(id);
  *study.mutable_spec() = spec;
  study.set_state(vmle::v1::STUDY_STATE_PENDING);
  *study.mutable_created_at() = ToTimestamp(absl::Now());
  absl::StatusOr<std::unique_ptr<StudyEntry>> entry = NewEntry(study);
  if (!entry.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("spec.planner: ", entry.status().message()));
  }
  (*entry)->run_started = absl::Now();
  StudyEvent submitted = MakeEvent(
      **entry, StudyEvent::TYPE_STUDY_SUBMITTED, "",
      absl::StrCat("study submitted: ", spec.dataset().name(), ", ", spec.planner().name(), " planner, ",
                   spec.budget().max_trials(), " trials, ", spec.budget().parallelism(), " in parallel"));
  // Nobody else sees the new entry until it is stored.
  (*entry)->writing = true;
  RETURN_IF_ERROR(CommitLocked(**entry, study, nullptr, {submitted}));
  (*entry)->writing = false;
  const vmle::v1::Study stored = (*entry)->study;
  studies_.try_emplace(id, *std::move(entry));
  log::Info("study submitted", {{"study", id}, {"planner", spec.planner().name()},
                                {"dataset", spec.dataset().name()}});
  work_pending_ = true;
  work_cv_.SignalAll();
  return stored;
}

absl::Status StudyManager::CheckActiveStudiesLocked() const {
  if (options_.max_active_studies <= 0) return absl::OkStatus();
  int active = 0;
  for (const auto& [id, entry] : studies_) {
    const vmle::v1::StudyState state = entry->study.state();
    active += state == vmle::v1::STUDY_STATE_PENDING || state == vmle::v1::STUDY_STATE_RUNNING;
  }
  if (active < options_.max_active_studies) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      active, " studies are pending or running, the agent's limit (--max_active_studies); "
      "submit again when one has finished, or cancel one"));
}

absl::StatusOr<vmle::v1::Study> StudyManager::GetStudy(const std::string& study_id) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckServingLocked());
  ASSIGN_OR_RETURN(StudyEntry * entry, FindOrLoadLocked(study_id));
  return entry->study;
}

absl::StatusOr<vmle::v1::ListStudiesResponse> StudyManager::ListStudies(
    const vmle::v1::ListStudiesRequest& request) {
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(CheckServingLocked());
  }
  if (request.page_size() < 0) return absl::InvalidArgumentError("page_size: must be >= 0");
  std::vector<StudyState> states;
  for (int s : request.states()) {
    if (!vmle::v1::StudyState_IsValid(s)) return absl::InvalidArgumentError("states: unknown state " + std::to_string(s));
    states.push_back(static_cast<StudyState>(s));
  }
  ASSIGN_OR_RETURN(std::vector<vmle::v1::Study> all, lookup_->ListStudies(states));
  vmle::v1::ListStudiesResponse response;
  std::string next;
  ASSIGN_OR_RETURN(std::vector<vmle::v1::Study> page, Page(all, request.page_size(), request.page_token(), &next));
  for (auto& s : page) *response.add_studies() = std::move(s);
  response.set_next_page_token(next);
  return response;
}

absl::StatusOr<vmle::v1::ListTrialsResponse> StudyManager::ListTrials(const vmle::v1::ListTrialsRequest& request) {
  if (request.page_size() < 0) return absl::InvalidArgumentError("page_size: must be >= 0");
  std::vector<Trial> all;
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(CheckServingLocked());
    ASSIGN_OR_RETURN(StudyEntry * entry, FindOrLoadLocked(request.study_id()));
    for (const auto& [number, t] : entry->trials) all.push_back(t.trial);
  }
  vmle::v1::ListTrialsResponse response;
  std::string next;
  ASSIGN_OR_RETURN(std::vector<Trial> page, Page(all, request.page_size(), request.page_token(), &next));
  for (auto& t : page) *response.add_trials() = std::move(t);
  response.set_next_page_token(next);
  return response;
}

absl::Status StudyManager::Watch(const vmle::v1::WatchStudyRequest& request,
                                 const std::function<bool(const StudyEvent&)>& write,
                                 const std::function<bool()>& cancelled) {
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(CheckServingLocked());
    // Held (or read now): its events are in the hub.
    RETURN_IF_ERROR(FindOrLoadLocked(request.study_id()).status());
  }
  return watch_hub_.Watch(request.study_id(), request.after_sequence(), write, cancelled);
}

absl::StatusOr<vmle::v1::Study> StudyManager::Cancel(const vmle::v1::CancelStudyRequest& request) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckServingLocked());
  ASSIGN_OR_RETURN(StudyEntry * entry, FindOrLoadLocked(request.study_id()));
  WriteSlot slot(*this, *entry);
  RETURN_IF_ERROR(slot.Acquire(kSlotWait));
  if (!entry->Active()) {
    return absl::FailedPreconditionError(absl::StrCat("study ", request.study_id(), " is already ",
                                                      StateName(entry->study.state())));
  }
  const std::string reason = request.reason().empty() ? "cancelled by the user" : request.reason();
  RETURN_IF_ERROR(BeginEndingLocked(*entry, reason, vmle::v1::STUDY_STATE_CANCELLED));
  log::Info("study cancelled", {{"study", request.study_id()}, {"reason", reason}});
  return entry->study;
}

absl::StatusOr<vmle::v1::Study> StudyManager::Resume(const vmle::v1::ResumeStudyRequest& request) {
  if (request.additional_trials() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("additional_trials: must be > 0, got ", request.additional_trials()));
  }
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckServingLocked());
  ASSIGN_OR_RETURN(StudyEntry * entry, FindOrLoadLocked(request.study_id()));
  WriteSlot slot(*this, *entry);
  RETURN_IF_ERROR(slot.Acquire(kSlotWait));
  const StudyState state = entry->study.state();
  if (state != vmle::v1::STUDY_STATE_SUCCEEDED && state != vmle::v1::STUDY_STATE_CANCELLED) {
    return absl::FailedPreconditionError(absl::StrCat(
        "study ", request.study_id(), " is ", StateName(state),
        "; only a succeeded or cancelled study can be resumed (submit a new study instead)"));
  }
  vmle::v1::Study study = entry->study;
  const int64_t max_trials = int64_t{study.spec().budget().max_trials()} + request.additional_trials();
  if (max_trials > options_.limits.max_trials) {
    return absl::InvalidArgumentError(absl::StrCat("additional_trials: the budget would be ", max_trials,
                                                   " trials, over the limit of ", options_.limits.max_trials));
  }
  if (entry->planner == nullptr) {
    ASSIGN_OR_RETURN(entry->planner, options_.make_planner(study.spec().planner(), study.id()));
  }
  study.mutable_spec()->mutable_budget()->set_max_trials(static_cast<int32_t>(max_trials));
  study.set_state(vmle::v1::STUDY_STATE_RUNNING);
  study.clear_end_reason();
  study.clear_error();
  study.clear_finished_at();
  const int first = entry->trials.empty() ? 1 : entry->trials.rbegin()->first + 1;
  StudyEvent resumed = MakeEvent(*entry, StudyEvent::TYPE_STUDY_RESUMED, "",
                                 absl::StrCat("study resumed with ", request.additional_trials(),
                                              " more trials (", max_trials, " in all)"));
  resumed.set_value(first);
  RETURN_IF_ERROR(CommitLocked(*entry, study, nullptr, {resumed}));
  entry->ending = false;
  entry->exhausted = false;
  entry->end_reason.clear();
  entry->run_started = absl::Now();
  entry->first_trial_of_run = first;
  for (auto& [number, t] : entry->trials) t.stop_requested = false;
  work_pending_ = true;
  work_cv_.SignalAll();
  return entry->study;
}

absl::StatusOr<vmle::v1::StudyReport> StudyManager::Report(const std::string& study_id) {
  ReportInputs inputs;
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(CheckServingLocked());
    ASSIGN_OR_RETURN(StudyEntry * entry, FindOrLoadLocked(study_id));
    inputs.study = entry->study;
    for (const auto& [number, t] : entry->trials) inputs.trials.push_back(t.trial);
    inputs.reflections = entry->reflections;
    inputs.insights = entry->insights;
    inputs.recalled = entry->recalled;
    inputs.space = space::ToProto(entry->planner_space);
  }
  absl::StatusOr<vmle::v1::CognitionSummary> summary = lookup_->GetCognitionSummary(CognitionId(study_id));
  if (summary.ok()) inputs.cognition = *std::move(summary);
  return BuildReport(inputs);
}

absl::StatusOr<vmle::v1::UploadTranscriptResponse> StudyManager::UploadTranscript(
    const vmle::v1::UploadTranscriptRequest& request) {
  ASSIGN_OR_RETURN(const int exchanges, llm::StoreTranscript(options_.llm, request.id(), request.jsonl()));
  log::Info("transcript uploaded", {{"id", request.id()}, {"exchanges", std::to_string(exchanges)}});
  vmle::v1::UploadTranscriptResponse response;
  response.set_id(request.id());
  response.set_exchanges(exchanges);
  return response;
}

}  // namespace vmle::agent
