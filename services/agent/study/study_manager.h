// StudyManager: the agent's core, a facade over its parts. It owns every study the
// agent runs and keeps no durable state of its own: each change is written through
// the memory service (MemoryClient) before it is acknowledged or applied, so a manager
// started on the same memory service resumes every unfinished study where the last
// one stopped. The gRPC services (service/) are thin adapters over it.
//
// Parts, each with its own header (contract and threading):
// - StudyLedger (study_ledger.h): the studies held, their write slots and the
//   write-through commit; its lock is the core's one lock.
// - LeaseQueue (lease_queue.h): the TrialQueue calls: leases, heartbeats, progress,
//   results, expiry, fairness, device matching.
// - PlanningDriver (planning_driver.h): reload at start, then reflect, recall, propose
//   and finish each study.
// - StudyEnding (study_ending.h): stop conditions and the end of studies.
// - WatchHub (watch_hub.h): every study's events and their watchers.
// The TrialQueue service calls the lease queue itself (trial_queue()). The facade
// answers the StudyService calls (submit, get, list, watch, cancel, resume, report)
// and runs the sweeper (expired leases, wall-time limits, endings whose writes failed,
// gauges).
//
// Threads: the planning driver's coordinator and steppers, the lease queue's lease
// threads and the sweeper; all stop and join in Stop() or the destructor. Every public
// method is thread-safe; Lease and Watch block, LeaseAsync does not. No memory call is
// made under the core's lock; each study's changes are ordered by its write slot, and
// different studies commit concurrently. While the memory service does not answer, a
// change answers UNAVAILABLE within seconds (nothing applied; the caller retries) and
// leases stay held, since heartbeats need no write.
//
// Errors: INVALID_ARGUMENT naming the field for bad requests; NOT_FOUND for unknown
// study or trial ids; FAILED_PRECONDITION for a lease that expired or was replaced
// (the worker must abandon the trial) and for operations a study's state forbids;
// RESOURCE_EXHAUSTED beyond Options::max_active_studies; UNAVAILABLE when the memory
// service cannot be reached (nothing was applied), while the agent loads its studies,
// or after Stop.
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
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/agent/llm/llm_endpoints.h"
#include "services/agent/planner/planner.h"
#include "services/agent/study/agent_metrics.h"
#include "services/agent/study/lease_queue.h"
#include "services/agent/study/memory_client.h"
#include "services/agent/study/planning_driver.h"
#include "services/agent/study/study_ending.h"
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

  // TrialQueue: the lease queue (lease_queue.h states its calls' contract).
  LeaseQueue& trial_queue() { return queue_; }

 private:
  using StudyEntry = internal::StudyEntry;

  explicit StudyManager(Options options);

  // RESOURCE_EXHAUSTED when Options::max_active_studies are pending or running.
  absl::Status CheckActiveStudiesLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());

  // The sweeper (study_manager_sweep.cc), every Options::sweep_interval: expired
  // leases, stop conditions (wall time), endings whose writes failed, gauges.
  void SweepLoop();
  void UpdateGaugesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());

  const Options options_;
  // Metrics go to options_.registry, or to a private registry when none is given.
  std::shared_ptr<prometheus::Registry> own_registry_;
  std::unique_ptr<AgentMetrics> metrics_;
  // Every study's events and their watchers (its own lock, taken after the ledger's).
  WatchHub watch_hub_;
  // The studies and their write-through commits; its lock is the core's one lock.
  StudyLedger ledger_;
  StudyEnding ending_;
  LeaseQueue queue_;
  PlanningDriver planning_;

  // Submissions one at a time (a request_id is looked up, then created).
  absl::Mutex submit_mu_ ABSL_ACQUIRED_BEFORE(ledger_.mu());
  // Wakes the sweeper at Stop.
  absl::CondVar sweep_cv_;
  // Turned true by Stop: planners' calls out (LLM requests) end at once.
  std::shared_ptr<std::atomic<bool>> cancel_calls_;
  std::thread sweep_thread_;
};

}  // namespace vmle::agent
