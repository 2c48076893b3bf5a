#include "services/agent/study/lease_queue.h"

#include <algorithm>
#include <memory>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging/logging.h"
#include "common/status/failure_cause.h"
#include "services/agent/study/internal/study_entry.h"
#include "services/agent/study/internal/time_util.h"

namespace vmle::agent {
namespace {

using internal::StudyEntry;
using internal::ToTimestamp;
using vmle::v1::StudyEvent;
using vmle::v1::Trial;

std::string NewLeaseId() {
  static std::mt19937_64 rng{std::random_device{}()};
  static absl::Mutex rng_mu;
  absl::MutexLock lock(&rng_mu);
  return absl::StrFormat("ls-%016x", rng());
}

}  // namespace

LeaseQueue::LeaseQueue(Options options, StudyLedger& ledger, StudyEnding& ending, AgentMetrics& metrics,
                       std::function<void(const StudyEntry&)> new_work)
    : options_(std::move(options)),
      ledger_(ledger),
      ending_(ending),
      metrics_(metrics),
      new_work_(std::move(new_work)) {}

LeaseQueue::~LeaseQueue() { Stop(); }

void LeaseQueue::Start() {
  for (int i = 0; i < std::max(1, options_.lease_threads); ++i) {
    threads_.emplace_back([this, i] { LeaseLoop(/*sweeps=*/i == 0); });
  }
}

void LeaseQueue::Stop() {
  LeaseLine::Taken waiting;
  {
    absl::MutexLock lock(&ledger_.mu());
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
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void LeaseQueue::WakeLeasersLocked(const StudyEntry& entry) {
  if (entry.writing || entry.queue.empty() || !lease_line_.AnyMatching(entry.study.spec().device())) return;
  WakeALeaseThread();
}

void LeaseQueue::WakeALeaseThread() {
  // Waiters on arrivals_mu_ see the flag when it is released (absl::Condition).
  absl::MutexLock lock(&arrivals_mu_);
  lease_wake_ = true;
}

size_t LeaseQueue::Waiting() const {
  absl::MutexLock lock(&ledger_.mu());
  return lease_line_.size();
}

std::map<std::string, int> LeaseQueue::WorkersLocked(absl::Time now, absl::Duration recent) const {
  std::map<std::string, int> by_state;
  for (const auto& [id, w] : workers_) {
    if (now - w.last_seen <= recent) ++by_state[w.state];
  }
  return by_state;
}

uint64_t LeaseQueue::LeaseAsync(const vmle::v1::LeaseTrialRequest& request, LeaseLine::Done done,
                                  std::function<bool()> cancelled) {
  const vmle::v1::WorkerInfo& worker = request.worker();
  if (worker.worker_id().empty()) {
    done(absl::InvalidArgumentError("worker.worker_id: required"));
    return 0;
  }
  if (request.wait_seconds() < 0) {
    done(absl::InvalidArgumentError("wait_seconds: must be >= 0"));
    return 0;
  }
  const absl::Duration wait = std::min(request.wait_seconds() == 0 ? absl::Seconds(30)
                                                                   : absl::Seconds(request.wait_seconds()),
                                       options_.max_lease_wait);
  auto waiter = std::make_unique<LeaseLine::Waiter>();
  waiter->ticket = next_ticket_.fetch_add(1);
  waiter->worker = worker;
  waiter->deadline = absl::Now() + wait;
  waiter->cancelled = std::move(cancelled);
  waiter->done = std::move(done);
  const uint64_t ticket = waiter->ticket;
  {
    // A lease thread puts it in the line (or answers it while the agent is not serving).
    absl::MutexLock lock(&arrivals_mu_);
    if (!lease_stop_) {
      arrivals_.push_back(std::move(waiter));
      return ticket;
    }
  }
  waiter->result = absl::UnavailableError("the agent is shutting down");
  waiter->Answer();
  return 0;
}

void LeaseQueue::CancelLease(uint64_t ticket) {
  if (ticket == 0) return;
  std::unique_ptr<LeaseLine::Waiter> waiter;
  {
    absl::MutexLock lock(&arrivals_mu_);
    auto it = std::find_if(arrivals_.begin(), arrivals_.end(), [ticket](const auto& w) { return w->ticket == ticket; });
    if (it == arrivals_.end()) {
      withdrawn_.push_back(ticket);  // a lease thread takes it out of the line
      return;
    }
    waiter = std::move(*it);
    arrivals_.erase(it);
  }
  waiter->Answer();
}

absl::StatusOr<vmle::v1::LeaseTrialResponse> LeaseQueue::Lease(const vmle::v1::LeaseTrialRequest& request,
                                                                 const std::function<bool()>& cancelled) {
  struct Answer {
    absl::Mutex mu;
    bool done ABSL_GUARDED_BY(mu) = false;
    absl::StatusOr<vmle::v1::LeaseTrialResponse> result ABSL_GUARDED_BY(mu);
  };
  auto answer = std::make_shared<Answer>();
  const uint64_t ticket = LeaseAsync(
      request,
      [answer](absl::StatusOr<vmle::v1::LeaseTrialResponse> result) {
        absl::MutexLock lock(&answer->mu);
        answer->result = std::move(result);
        answer->done = true;
      },
      cancelled);
  absl::MutexLock lock(&answer->mu);
  bool withdrawn = false;
  while (!answer->mu.AwaitWithTimeout(absl::Condition(&answer->done), absl::Milliseconds(100))) {
    if (!withdrawn && cancelled && cancelled()) {
      withdrawn = true;
      answer->mu.Unlock();
      CancelLease(ticket);
      answer->mu.Lock();
    }
  }
  return std::move(answer->result);
}

void LeaseQueue::LeaseLoop(bool sweeps) {
  absl::Time next_deadline = absl::InfiniteFuture();
  for (;;) {
    {
      absl::MutexLock lock(&arrivals_mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(arrivals_mu_) {
        return lease_wake_ || lease_stop_ || !arrivals_.empty() || !withdrawn_.empty();
      };
      // One thread also wakes for the waits that end and the callers that have gone.
      arrivals_mu_.AwaitWithDeadline(absl::Condition(&ready),
                                     sweeps ? std::min(next_deadline, absl::Now() + absl::Milliseconds(250))
                                            : absl::InfiniteFuture());
      if (lease_stop_) return;
      lease_wake_ = false;
    }
    LeaseLine::Taken answered;
    {
      absl::MutexLock lock(&ledger_.mu());
      // Taken and put in the line under the ledger's lock, so a ticket withdrawn meanwhile is found
      // in the line by the next pass.
      LeaseLine::Taken joined;
      std::vector<uint64_t> withdrawn;
      {
        absl::MutexLock arrivals_lock(&arrivals_mu_);
        joined.swap(arrivals_);
        withdrawn.swap(withdrawn_);
      }
      const absl::Status serving = ledger_.CheckServingLocked();
      const absl::Time now = absl::Now();
      for (auto& w : joined) {
        if (!serving.ok()) {
          w->result = serving;
          answered.push_back(std::move(w));
          continue;
        }
        JoinLineLocked(std::move(w), now);
      }
      for (uint64_t ticket : withdrawn) {
        if (auto w = lease_line_.Withdraw(ticket)) answered.push_back(std::move(w));
      }
      if (sweeps) {
        for (auto& w : lease_line_.TakeExpired(now)) answered.push_back(std::move(w));
      }
      // One study's leases per pass, for the oldest waiting worker of each device in
      // turn; LeaseToWaitersLocked may release the lock, so the line is looked at anew.
      bool leased = false;
      for (const std::string& device : lease_line_.Devices()) {
        if (ledger_.StoppingLocked()) break;
        if (LeaseToWaitersLocked(device, &answered)) {
          leased = true;
          break;
        }
      }
      if (sweeps) next_deadline = lease_line_.NextDeadline();
      // Another study may have trials too: look again.
      if (leased) WakeALeaseThread();
    }
    for (auto& w : answered) w->Answer();
  }
}

StudyEntry* LeaseQueue::PickStudyLocked(const std::string& device) {
  // Fair across studies: the one with the fewest running trials for its
  // parallelism, then the one served longest ago.
  StudyEntry* pick = nullptr;
  double pick_load = 0;
  for (auto& [id, entry] : ledger_.StudiesLocked()) {
    // A study whose last change is still being written is served once it is stored.
    if (entry->queue.empty() || !entry->Active() || entry->ending || entry->writing ||
        !DeviceMatches(entry->study.spec().device(), device)) {
      continue;
    }
    const double load = static_cast<double>(entry->running()) / entry->study.spec().budget().parallelism();
    if (pick == nullptr || load < pick_load ||
        (load == pick_load && entry->last_lease_tick < pick->last_lease_tick)) {
      pick = entry.get();
      pick_load = load;
    }
  }
  return pick;
}

Trial LeaseQueue::LeasedTrial(const StudyEntry& entry, Trial trial, const vmle::v1::WorkerInfo& worker,
                              absl::Time now, std::vector<StudyEvent>& events) const {
  trial.set_status(vmle::v1::TRIAL_STATUS_RUNNING);
  trial.set_attempts(trial.attempts() + 1);
  trial.set_worker_id(worker.worker_id());
  trial.set_lease_id(NewLeaseId());
  *trial.mutable_lease_expires_at() = ToTimestamp(now + options_.lease_duration);
  *trial.mutable_started_at() = ToTimestamp(now);
  trial.clear_epochs();
  events.push_back(StudyLedger::MakeEvent(
      entry, StudyEvent::TYPE_TRIAL_STARTED, trial.id(),
      absl::StrCat("trial ", trial.number(), " started on ", worker.worker_id(), " (",
                   worker.device().empty() ? "cpu" : worker.device(),
                   trial.attempts() > 1 ? absl::StrCat(", attempt ", trial.attempts()) : std::string(), ")")));
  return trial;
}

void LeaseQueue::ApplyLeaseLocked(StudyEntry& entry, const Trial& trial, absl::Time now, LeaseLine::Waiter& w) {
  internal::TrialState& state = entry.trials[trial.number()];
  state.lease_deadline = now + options_.lease_duration;
  state.stop_requested = false;
  entry.last_lease_tick = ++lease_ticks_;
  workers_[trial.worker_id()] = {"busy", now};
  metrics_.TrialTransition("running");
  vmle::v1::TrialAssignment a;
  a.set_trial_id(trial.id());
  a.set_study_id(entry.study.id());
  a.set_lease_id(trial.lease_id());
  *a.mutable_lease_expires_at() = trial.lease_expires_at();
  a.set_heartbeat_seconds(
      static_cast<int32_t>(std::max<int64_t>(1, absl::ToInt64Seconds(options_.heartbeat_interval))));
  *a.mutable_dataset() = entry.study.spec().dataset();
  a.set_backbone(entry.study.spec().backbone());
  *a.mutable_config() = trial.config();
  a.set_objective_metric(entry.study.spec().objective().metric());
  a.set_seed(trial.seed());
  *w.result->mutable_assignment() = std::move(a);
}

bool LeaseQueue::LeaseToWaitersLocked(const std::string& device, LeaseLine::Taken* answered) {
  StudyEntry* pick = PickStudyLocked(device);
  if (pick == nullptr) return false;
  StudyEntry& entry = *pick;
  StudyLedger::WriteSlot slot(ledger_, entry);
  if (!slot.Acquire(absl::ZeroDuration()).ok()) return false;
  if (entry.queue.empty() || !entry.Active() || entry.ending) return false;
  // The waiting callers this study can serve, oldest first, one queued trial each.
  LeaseLine::Taken batch = lease_line_.TakeServable(entry.study.spec().device(), entry.queue.size());
  if (batch.empty()) return false;
  // While this study writes, another lease thread serves the other studies.
  WakeALeaseThread();
  const absl::Time now = absl::Now();
  std::vector<Trial> trials;
  std::vector<StudyEvent> events;
  for (size_t i = 0; i < batch.size(); ++i) {
    trials.push_back(LeasedTrial(entry, entry.trials[entry.queue[i]].trial, batch[i]->worker, now, events));
  }
  const absl::Status written = ledger_.CommitLocked(entry, entry.study, trials, std::move(events));
  if (written.ok()) entry.queue.erase(entry.queue.begin(), entry.queue.begin() + batch.size());
  SettleLocked(entry, trials, written, batch);
  for (auto& w : batch) answered->push_back(std::move(w));
  return true;
}

void LeaseQueue::JoinLineLocked(std::unique_ptr<LeaseLine::Waiter> w, absl::Time now) {
  workers_[w->worker.worker_id()] = {"idle", now};
  lease_line_.Join(std::move(w));
}

LeaseLine::Taken LeaseQueue::AssignLocked(StudyEntry& entry, std::vector<Trial>& trials,
                                          std::vector<StudyEvent>& events) {
  if (!ledger_.CheckServingLocked().ok()) return {};
  const absl::Time now = absl::Now();
  // Calls that arrived since a lease thread last looked join the line first, so a
  // worker that asked while the round was being planned is served by its write too.
  LeaseLine::Taken arrived;
  {
    absl::MutexLock arrivals_lock(&arrivals_mu_);
    // A lease thread still looks at them: those this round cannot serve may find
    // another study's trials.
    if (!arrivals_.empty()) lease_wake_ = true;
    arrived.swap(arrivals_);
  }
  for (auto& w : arrived) JoinLineLocked(std::move(w), now);
  LeaseLine::Taken calls = lease_line_.TakeServable(entry.study.spec().device(), trials.size());
  for (size_t i = 0; i < calls.size(); ++i) {
    trials[i] = LeasedTrial(entry, std::move(trials[i]), calls[i]->worker, now, events);
  }
  return calls;
}

void LeaseQueue::SettleLocked(StudyEntry& entry, absl::Span<const Trial> trials, const absl::Status& written,
                              LeaseLine::Taken& calls) {
  for (size_t i = 0; i < calls.size(); ++i) {
    if (!written.ok()) {
      calls[i]->result = written;
      continue;
    }
    const Trial& trial = trials[i];
    ApplyLeaseLocked(entry, trial, internal::FromTimestamp(trial.started_at()), *calls[i]);
  }
  if (written.ok() && !calls.empty()) metrics_.LeaseWrite(calls.size());
}

void LeaseQueue::ExpireLeasesLocked() {
  const absl::Time now = absl::Now();
  for (auto& [id, entry] : ledger_.StudiesLocked()) {
    auto expired = [now](const internal::TrialState& state) {
      return state.trial.status() == vmle::v1::TRIAL_STATUS_RUNNING && state.lease_deadline < now;
    };
    if (entry->writing ||
        std::none_of(entry->trials.begin(), entry->trials.end(), [&](const auto& t) { return expired(t.second); })) {
      continue;
    }
    StudyLedger::WriteSlot slot(ledger_, *entry);
    if (!slot.Acquire(absl::ZeroDuration()).ok()) continue;
    for (auto& [number, state] : entry->trials) {
      if (!expired(state)) continue;
      metrics_.LeaseExpired();
      const std::string worker = state.trial.worker_id();
      workers_.erase(worker);
      log::Warn("lease expired", {{"study", id}, {"trial", state.trial.id()}, {"worker", worker}});
      const absl::Status s = RequeueOrFailLocked(
          *entry, state.trial, absl::StrCat("worker ", worker, " stopped sending heartbeats"), kCauseLeaseExpired,
          /*retryable=*/true);
      if (!s.ok()) {
        // The study is re-read before its next change; the next sweep tries again.
        log::Warn("cannot requeue trial yet", {{"trial", state.trial.id()}, {"error", std::string(s.message())}});
        break;
      }
    }
  }
}

}  // namespace vmle::agent
