// LeaseQueue: the TrialQueue side of the agent's core (study_manager.h is its
// facade): leases, heartbeats, progress reports, results and failures, lease expiry,
// fairness between studies and device matching.
//
// Contract:
// - A LeaseTrial call waits in the LeaseLine (lease_line.h) holding no thread. A lease
//   thread that finds a study with queued trials for a waiting worker's device takes
//   every waiting call that study can serve (oldest first, one queued trial each),
//   stores the leases in one write, then answers each call. Trials a planning round
//   proposes while calls wait are leased to them by the round's own write instead
//   (TrialHandoff, trial_handoff.h), calls that arrived while it was planned
//   included. Studies are served fairly:
//   the one with the fewest running trials for its parallelism first, then the one
//   served longest ago. A study that is writing or ending is not leased from.
// - A lease lasts Options::lease_duration from its last heartbeat or progress report.
//   Heartbeats need no write, so a lease outlives a memory service that does not
//   answer. ExpireLeasesLocked requeues (or fails, once its retries are spent) each
//   trial whose lease ran out.
// - Progress reports of a study group-commit: those that arrive while the study writes
//   are stored together by the next write; each is answered only once stored, with
//   whether to stop (early stopping, or the study ending). A report may carry several
//   consecutive epochs (a worker's report interval); early stopping judges each.
// - Complete and Fail store the result under the study's write slot (Complete with the
//   epochs it carries that no report did, final_epochs); a retried
//   Complete whose first try was stored succeeds. A result may end the study
//   (StudyEnding), and tells the planning driver there is new work.
// - A call naming a lease that expired or was replaced answers FAILED_PRECONDITION:
//   the worker abandons the trial.
//
// Threads: every public method is thread-safe. LeaseAsync and CancelLease never wait
// for the ledger's lock (arrivals go through a small queue on a lock of its own);
// Lease blocks until answered; the rest take the ledger's lock and, for a write, the
// study's write slot. Options::lease_threads threads run from Start to Stop.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/agent/study/agent_metrics.h"
#include "services/agent/study/lease_line.h"
#include "services/agent/study/study_ending.h"
#include "services/agent/study/study_ledger.h"
#include "services/agent/study/trial_handoff.h"
#include "vmle/v1/trial_queue.pb.h"

namespace vmle::agent {

class LeaseQueue : public TrialHandoff {
 public:
  using StudyEntry = internal::StudyEntry;

  struct Options {
    // How long a lease lasts without a heartbeat or progress report.
    absl::Duration lease_duration = absl::Seconds(60);
    // How often workers are asked to heartbeat.
    absl::Duration heartbeat_interval = absl::Seconds(10);
    // Longest LeaseTrial long-poll.
    absl::Duration max_lease_wait = absl::Seconds(120);
    // Threads that lease queued trials to waiting calls; each writes one study's
    // leases at a time, so this many studies lease concurrently.
    int lease_threads = 64;
  };

  // `new_work` is called, with the ledger's lock held, when a result or a first
  // dataset profile gives the planning driver something to do with a study.
  LeaseQueue(Options options, StudyLedger& ledger, StudyEnding& ending, AgentMetrics& metrics,
             std::function<void(const StudyEntry&)> new_work);
  ~LeaseQueue() override;
  LeaseQueue(const LeaseQueue&) = delete;
  LeaseQueue& operator=(const LeaseQueue&) = delete;

  // Starts the lease threads.
  void Start();
  // Answers every waiting call UNAVAILABLE (and every later one), then joins the
  // lease threads (one in a write answers its callers first); calls a planning round
  // took (AssignLocked) are answered by the round, before PlanningDriver::Stop returns;
  // idempotent. The ledger
  // must be stopping already (StudyLedger::Stop), also before the destructor, which
  // calls this.
  void Stop();

  // Queues a LeaseTrial call: `done` is called once, with a trial, an empty response
  // when the wait ends (or the caller has gone) without one, or an error
  // (INVALID_ARGUMENT for a bad request; UNAVAILABLE while the ledger is not serving).
  // It is called from a lease thread, from CancelLease or Stop, or from LeaseAsync
  // itself; never with a lock held. `cancelled` (thread-safe; may be empty) tells
  // whether the caller has gone. Returns the call's ticket for CancelLease; 0 when it
  // was answered at once.
  uint64_t LeaseAsync(const vmle::v1::LeaseTrialRequest& request, LeaseLine::Done done,
                      std::function<bool()> cancelled = {});
  // The caller of `ticket` has gone: a call still waiting is answered now, without a
  // trial. A no-op for a call already answered, or being leased to.
  void CancelLease(uint64_t ticket);
  // LeaseAsync, waiting on the calling thread for the answer.
  absl::StatusOr<vmle::v1::LeaseTrialResponse> Lease(const vmle::v1::LeaseTrialRequest& request,
                                                     const std::function<bool()>& cancelled);
  absl::StatusOr<vmle::v1::ReportProgressResponse> Progress(const vmle::v1::ReportProgressRequest& request);
  absl::StatusOr<vmle::v1::HeartbeatResponse> Heartbeat(const vmle::v1::HeartbeatRequest& request);
  absl::Status Complete(const vmle::v1::CompleteTrialRequest& request);
  absl::Status Fail(const vmle::v1::FailTrialRequest& request);

  // Requeues or fails every running trial whose lease has run out (the sweeper).
  void ExpireLeasesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());
  // Wakes a lease thread when `entry` has queued trials a waiting call can take now
  // (not while it writes: its slot's release calls this again).
  void WakeLeasersLocked(const StudyEntry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());
  // TrialHandoff: a planning round's trials leased to waiting calls by its write
  // (calls that arrived and no lease thread has let in yet join the line first).
  LeaseLine::Taken AssignLocked(StudyEntry& entry, std::vector<vmle::v1::Trial>& trials,
                                std::vector<vmle::v1::StudyEvent>& events) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());
  void SettleLocked(StudyEntry& entry, absl::Span<const vmle::v1::Trial> trials, const absl::Status& written,
                    LeaseLine::Taken& calls) override ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());
  // LeaseTrial calls waiting in the line now (not those a lease thread has yet to let in).
  size_t Waiting() const ABSL_LOCKS_EXCLUDED(ledger_.mu());
  // Workers seen within `recent` of `now`, by state ("idle", "busy").
  std::map<std::string, int> WorkersLocked(absl::Time now, absl::Duration recent) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());

 private:
  struct WorkerState {
    std::string state;  // "idle", "busy"
    absl::Time last_seen;
  };

  // Wakes a lease thread.
  void WakeALeaseThread() ABSL_LOCKS_EXCLUDED(arrivals_mu_);
  // The study of a trial a worker names (fields checked, ledger serving).
  absl::StatusOr<StudyEntry*> StudyOfTrialLocked(const std::string& trial_id, const std::string& lease_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());
  // The trial, when `lease_id` is still its lease.
  absl::StatusOr<vmle::v1::Trial*> CheckLeaseLocked(StudyEntry& entry, const std::string& trial_id,
                                                    const std::string& lease_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());
  // A call that arrived joins the line of waiting calls; its worker is idle.
  void JoinLineLocked(std::unique_ptr<LeaseLine::Waiter> w, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());
  // The study a worker on `device` should lease from now (fair across studies), or null.
  StudyEntry* PickStudyLocked(const std::string& device) ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());
  // `trial` leased to `worker` from `now` (attempt, lease, start), with its
  // TYPE_TRIAL_STARTED event added to `events`; to be stored.
  vmle::v1::Trial LeasedTrial(const StudyEntry& entry, vmle::v1::Trial trial, const vmle::v1::WorkerInfo& worker,
                              absl::Time now, std::vector<vmle::v1::StudyEvent>& events) const;
  // After a lease of LeasedTrial was stored: its deadline, the worker busy, and the
  // assignment as `w`'s result.
  void ApplyLeaseLocked(StudyEntry& entry, const vmle::v1::Trial& trial, absl::Time now, LeaseLine::Waiter& w)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());
  // Leases queued trials of the study PickStudyLocked(device) gives to the waiting
  // calls it can serve (oldest first), in one write, and adds them, with their
  // results, to `answered` (for the caller to answer without the lock); false when
  // there was none to lease from now. May release the lock even then.
  bool LeaseToWaitersLocked(const std::string& device, LeaseLine::Taken* answered)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());
  // A lease thread: leases to waiting calls whenever a study can serve them; the one
  // that `sweeps` also answers the calls whose wait has ended or whose caller has gone
  // (within 250 ms), while the others sleep until woken.
  void LeaseLoop(bool sweeps);
  // Writes the progress reports waiting in entry.progress (those whose lease still
  // holds) in one write, and answers each. The study must not be writing; takes its
  // write slot meanwhile.
  void WriteProgressLocked(StudyEntry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());
  // Whether the trial should stop after any of its last `new_epochs` epochs, each
  // judged on the curve up to it, as if reported alone.
  bool EarlyStopLocked(const StudyEntry& entry, const vmle::v1::Trial& trial, int new_epochs,
                       std::string* reason) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());
  absl::Status RequeueOrFailLocked(StudyEntry& entry, vmle::v1::Trial trial, const std::string& error,
                                   const std::string& cause, bool retryable)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());

  const Options options_;
  StudyLedger& ledger_;
  StudyEnding& ending_;
  AgentMetrics& metrics_;
  const std::function<void(const StudyEntry&)> new_work_;

  // LeaseTrial calls waiting for a trial, oldest first.
  LeaseLine lease_line_ ABSL_GUARDED_BY(ledger_.mu());
  // Calls that arrived, and tickets of calls whose caller went, since a lease thread
  // last looked, with the lease threads' wake-up: on a lock of their own, so a gRPC
  // thread that starts or cancels a call never waits for the ledger's lock.
  absl::Mutex arrivals_mu_ ABSL_ACQUIRED_AFTER(ledger_.mu());
  LeaseLine::Taken arrivals_ ABSL_GUARDED_BY(arrivals_mu_);
  std::vector<uint64_t> withdrawn_ ABSL_GUARDED_BY(arrivals_mu_);
  // A study may have trials to lease now: a lease thread looks.
  bool lease_wake_ ABSL_GUARDED_BY(arrivals_mu_) = false;
  bool lease_stop_ ABSL_GUARDED_BY(arrivals_mu_) = false;
  std::atomic<uint64_t> next_ticket_{1};
  absl::flat_hash_map<std::string, WorkerState> workers_ ABSL_GUARDED_BY(ledger_.mu());
  // Leases handed out, for fairness between studies.
  int64_t lease_ticks_ ABSL_GUARDED_BY(ledger_.mu()) = 0;
  std::vector<std::thread> threads_;
};

}  // namespace vmle::agent
