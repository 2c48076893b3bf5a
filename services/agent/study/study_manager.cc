#include "services/agent/study/study_manager.h"

#include <algorithm>
#include <random>

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
#include "services/agent/study/internal/study_entry.h"
#include "services/agent/study/internal/study_state.h"
#include "services/agent/study/internal/time_util.h"
#include "services/agent/study/objective.h"
#include "services/agent/study/report.h"

namespace vmle::agent {
namespace {

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

std::unique_ptr<AgentMetrics> NewMetrics(prometheus::Registry* registry,
                                        std::shared_ptr<prometheus::Registry>* own) {
  if (registry == nullptr) {
    *own = std::make_shared<prometheus::Registry>();
    registry = own->get();
  }
  return std::make_unique<AgentMetrics>(*registry);
}

}  // namespace

StudyManager::StudyManager(Options options)
    : options_(std::move(options)),
      metrics_(NewMetrics(options_.registry, &own_registry_)),
      ledger_(StudyLedger::Options{
          .memory = options_.memory,
          .watch_hub = &watch_hub_,
          .make_planner = options_.make_planner,
          .lease_duration = options_.lease_duration,
          .workers_survive_restart = options_.workers_survive_restart,
          // Leases skip a study while it writes: waiting callers may lease from it
          // now, if it has anything queued.
          .slot_released = [this](const StudyEntry& entry)
              ABSL_NO_THREAD_SAFETY_ANALYSIS { queue_.WakeLeasersLocked(entry); },
      }),
      ending_(ledger_, *metrics_,
              [this](const StudyEntry& entry)
                  ABSL_NO_THREAD_SAFETY_ANALYSIS { planning_.NewWorkLocked(entry.study.id()); }),
      queue_(LeaseQueue::Options{.lease_duration = options_.lease_duration,
                                 .heartbeat_interval = options_.heartbeat_interval,
                                 .max_lease_wait = options_.max_lease_wait,
                                 .lease_threads = options_.lease_threads},
             ledger_, ending_, *metrics_,
             [this](const StudyEntry& entry)
                 ABSL_NO_THREAD_SAFETY_ANALYSIS { planning_.NewWorkLocked(entry.study.id()); }),
      planning_(PlanningDriver::Options{.planning_threads = options_.planning_threads, .recall_k = options_.recall_k},
                ledger_, ending_, *options_.memory, *metrics_,
                [this](const StudyEntry& entry) ABSL_NO_THREAD_SAFETY_ANALYSIS { queue_.WakeLeasersLocked(entry); },
                &queue_) {}

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
  m->planning_.Start();
  m->queue_.Start();
  m->sweep_thread_ = std::thread([m] { m->SweepLoop(); });
  return manager;
}

StudyManager::~StudyManager() { Stop(); }

void StudyManager::Stop() {
  ledger_.Stop();
  if (cancel_calls_ != nullptr) cancel_calls_->store(true);
  {
    absl::MutexLock lock(&ledger_.mu());
    sweep_cv_.SignalAll();
  }
  queue_.Stop();
  watch_hub_.Stop();
  planning_.Stop();
  if (sweep_thread_.joinable()) sweep_thread_.join();
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
  absl::MutexLock lock(&ledger_.mu());
  RETURN_IF_ERROR(ledger_.CheckServingLocked());
  // A generated id names a study of this second, which this agent holds if it exists.
  while (request.request_id().empty() && ledger_.FindLocked(id) != nullptr) id = NewStudyId();
  if (!request.request_id().empty()) {
    absl::StatusOr<StudyEntry*> existing = ledger_.FindOrLoadLocked(id);
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
  absl::StatusOr<std::unique_ptr<StudyEntry>> entry = ledger_.NewEntry(study);
  if (!entry.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("spec.planner: ", entry.status().message()));
  }
  (*entry)->run_started = absl::Now();
  StudyEvent submitted = StudyLedger::MakeEvent(
      **entry, StudyEvent::TYPE_STUDY_SUBMITTED, "",
      absl::StrCat("study submitted: ", spec.dataset().name(), ", ", spec.planner().name(), " planner, ",
                   spec.budget().max_trials(), " trials, ", spec.budget().parallelism(), " in parallel"));
  ASSIGN_OR_RETURN(StudyEntry * created, ledger_.CreateLocked(*std::move(entry), {submitted}));
  const vmle::v1::Study stored = created->study;
  log::Info("study submitted", {{"study", id}, {"planner", spec.planner().name()},
                                {"dataset", spec.dataset().name()}});
  planning_.NewWorkLocked(id);
  return stored;
}

absl::Status StudyManager::CheckActiveStudiesLocked() const {
  if (options_.max_active_studies <= 0) return absl::OkStatus();
  int active = 0;
  for (const auto& [id, entry] : ledger_.StudiesLocked()) {
    const vmle::v1::StudyState state = entry->study.state();
    active += state == vmle::v1::STUDY_STATE_PENDING || state == vmle::v1::STUDY_STATE_RUNNING;
  }
  if (active < options_.max_active_studies) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      active, " studies are pending or running, the agent's limit (--max_active_studies); "
      "submit again when one has finished, or cancel one"));
}

absl::StatusOr<vmle::v1::Study> StudyManager::GetStudy(const std::string& study_id) {
  absl::MutexLock lock(&ledger_.mu());
  RETURN_IF_ERROR(ledger_.CheckServingLocked());
  ASSIGN_OR_RETURN(StudyEntry * entry, ledger_.FindOrLoadLocked(study_id));
  return entry->study;
}

absl::StatusOr<vmle::v1::ListStudiesResponse> StudyManager::ListStudies(
    const vmle::v1::ListStudiesRequest& request) {
  {
    absl::MutexLock lock(&ledger_.mu());
    RETURN_IF_ERROR(ledger_.CheckServingLocked());
  }
  if (request.page_size() < 0) return absl::InvalidArgumentError("page_size: must be >= 0");
  std::vector<StudyState> states;
  for (int s : request.states()) {
    if (!vmle::v1::StudyState_IsValid(s)) return absl::InvalidArgumentError("states: unknown state " + std::to_string(s));
    states.push_back(static_cast<StudyState>(s));
  }
  ASSIGN_OR_RETURN(std::vector<vmle::v1::Study> all, ledger_.lookup().ListStudies(states));
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
    absl::MutexLock lock(&ledger_.mu());
    RETURN_IF_ERROR(ledger_.CheckServingLocked());
    ASSIGN_OR_RETURN(StudyEntry * entry, ledger_.FindOrLoadLocked(request.study_id()));
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
    absl::MutexLock lock(&ledger_.mu());
    RETURN_IF_ERROR(ledger_.CheckServingLocked());
    // Held (or read now): its events are in the hub.
    RETURN_IF_ERROR(ledger_.FindOrLoadLocked(request.study_id()).status());
  }
  return watch_hub_.Watch(request.study_id(), request.after_sequence(), write, cancelled);
}

absl::StatusOr<vmle::v1::Study> StudyManager::Cancel(const vmle::v1::CancelStudyRequest& request) {
  absl::MutexLock lock(&ledger_.mu());
  RETURN_IF_ERROR(ledger_.CheckServingLocked());
  ASSIGN_OR_RETURN(StudyEntry * entry, ledger_.FindOrLoadLocked(request.study_id()));
  StudyLedger::WriteSlot slot(ledger_, *entry);
  RETURN_IF_ERROR(slot.Acquire(StudyLedger::kSlotWait));
  if (!entry->Active()) {
    return absl::FailedPreconditionError(absl::StrCat("study ", request.study_id(), " is already ",
                                                      StateName(entry->study.state())));
  }
  const std::string reason = request.reason().empty() ? "cancelled by the user" : request.reason();
  RETURN_IF_ERROR(ending_.BeginLocked(*entry, reason, vmle::v1::STUDY_STATE_CANCELLED));
  log::Info("study cancelled", {{"study", request.study_id()}, {"reason", reason}});
  return entry->study;
}

absl::StatusOr<vmle::v1::Study> StudyManager::Resume(const vmle::v1::ResumeStudyRequest& request) {
  if (request.additional_trials() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("additional_trials: must be > 0, got ", request.additional_trials()));
  }
  absl::MutexLock lock(&ledger_.mu());
  RETURN_IF_ERROR(ledger_.CheckServingLocked());
  ASSIGN_OR_RETURN(StudyEntry * entry, ledger_.FindOrLoadLocked(request.study_id()));
  StudyLedger::WriteSlot slot(ledger_, *entry);
  RETURN_IF_ERROR(slot.Acquire(StudyLedger::kSlotWait));
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
  StudyEvent resumed = StudyLedger::MakeEvent(*entry, StudyEvent::TYPE_STUDY_RESUMED, "",
                                 absl::StrCat("study resumed with ", request.additional_trials(),
                                              " more trials (", max_trials, " in all)"));
  resumed.set_value(first);
  RETURN_IF_ERROR(ledger_.CommitLocked(*entry, study, nullptr, {resumed}));
  entry->ending = false;
  entry->exhausted = false;
  entry->end_reason.clear();
  entry->run_started = absl::Now();
  entry->first_trial_of_run = first;
  for (auto& [number, t] : entry->trials) t.stop_requested = false;
  planning_.NewWorkLocked(entry->study.id());
  return entry->study;
}

absl::StatusOr<vmle::v1::StudyReport> StudyManager::Report(const std::string& study_id) {
  ReportInputs inputs;
  {
    absl::MutexLock lock(&ledger_.mu());
    RETURN_IF_ERROR(ledger_.CheckServingLocked());
    ASSIGN_OR_RETURN(StudyEntry * entry, ledger_.FindOrLoadLocked(study_id));
    inputs.study = entry->study;
    for (const auto& [number, t] : entry->trials) inputs.trials.push_back(t.trial);
    inputs.reflections = entry->reflections;
    inputs.insights = entry->insights;
    inputs.recalled = entry->recalled;
    inputs.space = space::ToProto(entry->planner_space);
  }
  absl::StatusOr<vmle::v1::CognitionSummary> summary = ledger_.lookup().GetCognitionSummary(CognitionId(study_id));
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
