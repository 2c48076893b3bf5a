// StudyManager: the agent's core. It owns every study the agent runs — their trials,
// the leased trial queue the workers pull from, early stopping, planning, reflection
// and distillation — and keeps no durable state of its own: each change is written
// through the memory service (MemoryClient) before it is acknowledged or applied,
// so a manager started on the same memory service resumes every unfinished study
// where the last one stopped. The gRPC services (service/) are thin adapters over it.
//
// Threads: a planning coordinator that hands studies with new work to a StepPool
// (step_pool.h) of Options::planning_threads steppers (reflect on finished trials,
// propose new ones, recall cognition, finish studies; planner calls run outside the
// lock; each study is
// stepped by one thread at a time, so different studies plan and write concurrently),
// Options::lease_threads lease threads (they lease queued trials to the waiting
// LeaseTrial calls and end the waits that run out), and a sweeper (expired leases,
// wall-time limits, gauges). All stop and join in Stop() or the destructor. Every
// public method is thread-safe; Lease and Watch block, LeaseAsync does not.
//
// Locking: the studies live in the StudyLedger (study_ledger.h), whose one mutex
// guards the in-memory state; no call to the memory service is made while it is held.
// A change to a study holds that study's write slot from its decision until its
// write is applied, so each study's changes are ordered while different studies
// commit concurrently; reads (GetStudy, ListTrials, Heartbeat)
// answer from the state already held while a write is in flight. Events go to the
// WatchHub (watch_hub.h) once applied, and WatchStudy calls follow them there, on the
// hub's own lock and each study's own condition variable. Progress
// reports group-commit: those that arrive while their study writes wait, and the next
// write stores them all (one memory write, one synced WAL write; each report is
// answered only once it is stored). Leases group-commit the same way: waiting
// LeaseTrial calls form one line (lease_line.h) and hold no thread while they wait;
// a lease thread that finds a study with queued trials leases one to each caller it
// can serve in one write, then answers them. Calls arrive and are withdrawn through a
// small queue on a lock of its own (arrivals_mu_), which the lease threads move into
// the line, so LeaseAsync and CancelLease never wait for mu_. Memory
// calls have deadlines and bounded retries: while the memory service does not answer,
// a change answers UNAVAILABLE within seconds (nothing applied; the caller retries) and
// leases stay held, since heartbeats need no write. A write whose outcome is unknown
// makes the study re-read its stored record before its next change.
//
// Errors: INVALID_ARGUMENT naming the field for bad requests; NOT_FOUND for unknown
// study or trial ids; FAILED_PRECONDITION for a lease that expired or was replaced
// (the worker must abandon the trial) and for operations a study's state forbids;
// UNAVAILABLE when the memory service cannot be reached (nothing was applied).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "services/agent/llm/llm_endpoints.h"
#include "services/agent/planner/planner.h"
#include "services/agent/study/agent_metrics.h"
#include "services/agent/study/lease_line.h"
#include "services/agent/study/memory_client.h"
#include "services/agent/study/step_pool.h"
#include "services/agent/study/study_ledger.h"
#include "services/agent/study/study_spec.h"
#include "services/agent/study/watch_hub.h"
#include "vmle/v1/study_service.pb.h"
#include "vmle/v1/trial_queue.pb.h"

namespace prometheus {
class Registry;
}

namespace vmle::agent {

class StudyManager {
 public:
  struct Options {
    // The system of record; not owned, must outlive the manager.
    MemoryClient* memory = nullptr;
    // Where the vmle_agent_* metrics are registered; null: not exported.
    prometheus::Registry* registry = nullptr;
    // How long a lease lasts without a heartbeat or progress report.
    absl::Duration lease_duration = absl::Seconds(60);
    // Whether a trial found running when the agent starts may still have a live worker
    // (a separate process) that gets a full lease to check in; false where the workers
    // died with the agent (`vmle tune` in one process): such trials are leased again at once.
    bool workers_survive_restart = true;
    // How often workers are asked to heartbeat.
    absl::Duration heartbeat_interval = absl::Seconds(10);
    // Longest LeaseTrial long-poll.
    absl::Duration max_lease_wait = absl::Seconds(120);
    // How often leases and wall-time limits are checked.
    absl::Duration sweep_interval = absl::Milliseconds(200);
    // Bounds of submitted specs.
    SpecLimits limits;
    // Studies pending or running at once; Submit answers RESOURCE_EXHAUSTED beyond
    // it. 0: no limit.
    int max_active_studies = 0;
    // Cognition summaries recalled at the start of a study (unless transfer is off).
    int recall_k = 3;
    // Threads that lease queued trials to waiting LeaseTrial calls; each writes one
    // study's leases at a time, so this many studies lease concurrently.
    int lease_threads = 64;
    // Threads that step studies (reflect, recall, propose, finish), one study each at
    // a time; a study's planner is called from one of them at a time.
    int planning_threads = 4;
    // The operator's LLM endpoints and transcript directory, for the llm and opro
    // planners (services/agent/llm/llm_endpoints.h).
    llm::LlmConfig llm;
    // Planner construction; empty: MakePlanner.
    PlannerMaker make_planner;
  };

  // Starts the threads; the planning thread first reloads every unfinished study
  // from the memory service (retrying while it is unreachable). Until that is done
  // every call answers UNAVAILABLE, so a client or worker retries.
  static absl::StatusOr<std::unique_ptr<StudyManager>> Start(Options options);
  ~StudyManager();
  StudyManager(const StudyManager&) = delete;
  StudyManager& operator=(const StudyManager&) = delete;

  // Stops the threads and wakes every blocked Lease and Watch; idempotent.
  void Stop();

  // StudyService. `caller` scopes request_id (auth/caller.h); "" for in-process
  // callers.
  absl::StatusOr<vmle::v1::Study> Submit(const vmle::v1::SubmitStudyRequest& request,
                                         const std::string& caller = "");
  absl::StatusOr<vmle::v1::Study> GetStudy(const std::string& study_id);
  absl::StatusOr<vmle::v1::ListStudiesResponse> ListStudies(const vmle::v1::ListStudiesRequest& request);
  absl::StatusOr<vmle::v1::ListTrialsResponse> ListTrials(const vmle::v1::ListTrialsRequest& request);
  // Calls `write` with every event after request.after_sequence, then with live
  // events, until the study has ended and all its events were written, `write`
  // returns false, `cancelled` returns true, or the manager stops.
  absl::Status Watch(const vmle::v1::WatchStudyRequest& request,
                     const std::function<bool(const vmle::v1::StudyEvent&)>& write,
                     const std::function<bool()>& cancelled);
  absl::StatusOr<vmle::v1::Study> Cancel(const vmle::v1::CancelStudyRequest& request);
  absl::StatusOr<vmle::v1::Study> Resume(const vmle::v1::ResumeStudyRequest& request);
  absl::StatusOr<vmle::v1::StudyReport> Report(const std::string& study_id);
  // Operator role: llm::StoreTranscript into the configured transcript directory.
  absl::StatusOr<vmle::v1::UploadTranscriptResponse> UploadTranscript(
      const vmle::v1::UploadTranscriptRequest& request);

  // TrialQueue. LeaseAsync queues a LeaseTrial call, which holds no thread while it
  // waits: `done` is called once, with a trial, an empty response when the wait ends
  // (or the caller has gone) without one, or an error (UNAVAILABLE while the agent
  // loads its studies or after Stop). It is called from a lease thread, from
  // CancelLease or Stop, or from LeaseAsync itself for a bad request or after Stop;
  // never with a lock held. `cancelled` (thread-safe; may be
  // empty) tells whether the caller has gone. Returns the call's ticket for
  // CancelLease; 0 when it was answered at once.
  uint64_t LeaseAsync(const vmle::v1::LeaseTrialRequest& request, LeaseLine::Done done,
                      std::function<bool()> cancelled = {});
  // The caller of `ticket` has gone: a call still waiting is answered now, without a
  // trial. A no-op for a call already answered, or being leased to.
  void CancelLease(uint64_t ticket);
  // LeaseAsync, waiting on the calling thread for the answer (in-process callers).
  absl::StatusOr<vmle::v1::LeaseTrialResponse> Lease(const vmle::v1::LeaseTrialRequest& request,
                                                     const std::function<bool()>& cancelled);
  absl::StatusOr<vmle::v1::ReportProgressResponse> Progress(const vmle::v1::ReportProgressRequest& request);
  absl::StatusOr<vmle::v1::HeartbeatResponse> Heartbeat(const vmle::v1::HeartbeatRequest& request);
  absl::Status Complete(const vmle::v1::CompleteTrialRequest& request);
  absl::Status Fail(const vmle::v1::FailTrialRequest& request);

 private:
  using StudyEntry = internal::StudyEntry;
  using WriteSlot = StudyLedger::WriteSlot;
  static constexpr absl::Duration kSlotWait = StudyLedger::kSlotWait;
  struct WorkerState {
    std::string state;  // "idle", "busy"
    absl::Time last_seen;
  };

  explicit StudyManager(Options options);

  // RESOURCE_EXHAUSTED when Options::max_active_studies are pending or running.
  absl::Status CheckActiveStudiesLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Wakes a lease thread when `entry` has trials waiting LeaseTrial calls can lease
  // now (not while it writes: its slot's release wakes them).
  void WakeLeasersLocked(const StudyEntry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Wakes a lease thread.
  void WakeALeaseThread() ABSL_LOCKS_EXCLUDED(arrivals_mu_);
  // Writes the progress reports waiting in entry.progress (those whose lease still
  // holds) in one write, and answers each: the group commit of a study's reports.
  // The study must not be writing; takes its write slot meanwhile.
  void WriteProgressLocked(StudyEntry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Trial transitions (study_manager_queue.cc).
  // The study of a trial a worker names.
  absl::StatusOr<StudyEntry*> StudyOfTrialLocked(const std::string& trial_id, const std::string& lease_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The trial, when `lease_id` is still its lease.
  absl::StatusOr<vmle::v1::Trial*> CheckLeaseLocked(StudyEntry& entry, const std::string& trial_id,
                                                    const std::string& lease_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The study a worker on `device` should lease from now (fair across studies), or null.
  StudyEntry* PickStudyLocked(const std::string& device) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Leases queued trials of the study PickStudyLocked(device) gives to the waiting
  // LeaseTrial calls it can serve (oldest first), in one write, and adds them, with
  // their results, to `answered` (for the caller to answer without the lock); false
  // when there was none to lease from now. May release mu_ even then.
  bool LeaseToWaitersLocked(const std::string& device, LeaseLine::Taken* answered)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A lease thread: leases to waiting calls whenever a study can serve them; the one
  // that `sweeps` also answers the calls whose wait has ended or whose caller has gone
  // (within 250 ms), while the others sleep until woken.
  void LeaseLoop(bool sweeps);
  absl::Status RequeueOrFailLocked(StudyEntry& entry, vmle::v1::Trial trial, const std::string& error,
                                   const std::string& cause, bool retryable) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool EarlyStopLocked(const StudyEntry& entry, const vmle::v1::Trial& trial, std::string* reason) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireLeasesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Ending (study_manager.cc).
  // Starts ending a study: queued trials stop, running ones are told to stop.
  absl::Status BeginEndingLocked(StudyEntry& entry, const std::string& reason, vmle::v1::StudyState final_state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The reason the study must stop now, or "".
  std::string StopReasonLocked(const StudyEntry& entry, vmle::v1::StudyState* final_state) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Begins ending the study when a stop condition holds (failures, target,
  // patience, wall time).
  absl::Status CheckStopLocked(StudyEntry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Planning (study_manager_planning.cc).
  void PlanningLoop();
  // One step of a study, on a thread of step_pool_ (each study on one at a time).
  void StepStudy(const std::string& study_id);
  // The planner's view of a study: its trials without epochs and test metrics.
  PlanningContext ContextLocked(StudyEntry& entry) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReflectPending(StudyEntry& entry);
  // L1 -> L2 through the planner; stores the new insights.
  void ConsolidateInsights(StudyEntry& entry, PlanningContext context);
  void RecallIfReady(StudyEntry& entry);
  void ProposeIfRoom(StudyEntry& entry);
  void FinishIfDone(StudyEntry& entry);
  void FailStudyLocked(StudyEntry& entry, const std::string& error) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void SweepLoop();
  void UpdateGaugesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  // Writes and reads of memory (reflections, insights, cognition): bounded retries.
  MemoryClient& memory_;
  // Every study's events and their watchers (its own lock, taken after mu_).
  WatchHub watch_hub_;
  // The studies and their write-through commits; its lock is mu_.
  StudyLedger ledger_;
  // Metrics go to options_.registry, or to a private registry when none is given.
  std::shared_ptr<prometheus::Registry> own_registry_;
  std::unique_ptr<AgentMetrics> metrics_;

  // Submissions one at a time (a request_id is looked up, then created).
  absl::Mutex submit_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // The ledger's lock: guards every study and the state below marked so.
  absl::Mutex& mu_;
  // Wakes the planning coordinator (a trial finished, a study arrived) and the
  // sweeper, which both wait on it: signalled to all.
  absl::CondVar work_cv_;
  // LeaseTrial calls waiting for a trial, oldest first.
  LeaseLine lease_line_ ABSL_GUARDED_BY(mu_);
  // LeaseTrial calls that arrived, and tickets of calls whose caller went, since a
  // lease thread last looked, with the lease threads' wake-up: on a lock of their
  // own, so a gRPC thread that starts or cancels a call never waits for mu_.
  absl::Mutex arrivals_mu_ ABSL_ACQUIRED_AFTER(mu_);
  LeaseLine::Taken arrivals_ ABSL_GUARDED_BY(arrivals_mu_);
  std::vector<uint64_t> withdrawn_ ABSL_GUARDED_BY(arrivals_mu_);
  // A study may have trials to lease now: a lease thread looks.
  bool lease_wake_ ABSL_GUARDED_BY(arrivals_mu_) = false;
  bool lease_stop_ ABSL_GUARDED_BY(arrivals_mu_) = false;
  std::atomic<uint64_t> next_lease_ticket_{1};
  bool work_pending_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, WorkerState> workers_ ABSL_GUARDED_BY(mu_);
  int64_t lease_ticks_ ABSL_GUARDED_BY(mu_) = 0;

  // Turned true by Stop: planners' calls out (LLM requests) end at once.
  std::shared_ptr<std::atomic<bool>> cancel_calls_;
  std::thread planning_thread_;
  // Steps the studies PlanningLoop queues (Options::planning_threads threads).
  std::unique_ptr<StepPool> step_pool_;
  std::thread sweep_thread_;
  std::vector<std::thread> lease_threads_;
};

}  // namespace vmle::agent
