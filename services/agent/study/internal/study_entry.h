// What the StudyLedger holds for one study in memory: the stored records plus the
// volatile bookkeeping (queue order, lease deadlines, stop requests). Guarded by the
// ledger's mutex, except `planner`, which only the thread stepping the study touches.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/space/search_space.h"
#include "services/agent/evidence/evidence.h"
#include "services/agent/planner/planner.h"
#include "vmle/v1/memory.pb.h"
#include "vmle/v1/study.pb.h"
#include "vmle/v1/trial_queue.pb.h"

namespace vmle::agent::internal {

struct TrialState {
  vmle::v1::Trial trial;
  // Running trials: when the lease ends without a heartbeat.
  absl::Time lease_deadline = absl::InfinitePast();
  // Running trials: told to stop at the next progress report or heartbeat.
  bool stop_requested = false;
  std::string stop_reason;
  // evidence::ConfigurationKey(trial.config()) once computed ("" before): a trial's
  // configuration never changes after it is proposed.
  mutable std::string config_key;
  const std::string& ConfigKey() const {
    if (config_key.empty()) config_key = evidence::ConfigurationKey(trial.config());
    return config_key;
  }
};

// A progress report waiting to be written with the others of its study (one write
// for every report that arrived while the study's last write was in flight). Lives
// on the stack of the ReportProgress call that waits for it.
struct PendingProgress {
  const vmle::v1::ReportProgressRequest* request = nullptr;
  // Set by the call that writes it, with `status` and `response`.
  bool taken = false;
  bool done = false;
  absl::Status status;
  vmle::v1::ReportProgressResponse response;
};

struct StudyEntry {
  vmle::v1::Study study;
  // The space trials are validated against (narrowed, fixed parameters included)
  // and the one the planner explores (fixed parameters removed).
  space::SearchSpace space;
  space::SearchSpace planner_space;
  std::unique_ptr<Planner> planner;
  // By trial number, and trial id -> number.
  std::map<int, TrialState> trials;
  absl::flat_hash_map<std::string, int> number_of;
  // Queued trial numbers, oldest first.
  std::deque<int> queue;
  // The next event's sequence number (the events themselves are in the WatchHub).
  int64_t next_sequence = 1;
  // L1/L2 memory and recalled L3 summaries.
  std::vector<vmle::v1::Reflection> reflections;
  std::set<int> reflected;
  vmle::v1::WorkingInsights insights;
  std::vector<vmle::v1::CognitionSummary> recalled;
  bool recall_done = false;
  // Set once the study stops taking new trials; the state it ends in and why.
  bool ending = false;
  vmle::v1::StudyState final_state = vmle::v1::STUDY_STATE_SUCCEEDED;
  std::string end_reason;
  // The planner had nothing more to propose.
  bool exhausted = false;
  // When the current run started (submission or last resume): wall-time limit and
  // patience count from here.
  absl::Time run_started = absl::InfinitePast();
  int first_trial_of_run = 1;
  // Leases handed out, for fairness between studies.
  int64_t last_lease_tick = 0;
  // A change of this study is being decided and written (StudyLedger::WriteSlot).
  bool writing = false;
  // Signalled when `writing` turns false (or the ledger stops).
  absl::CondVar slot_cv;
  // Progress reports waiting for the next write, oldest first.
  std::deque<PendingProgress*> progress;
  // A write's outcome is unknown (the memory service did not answer, or held a newer
  // version): the stored record is read back before the next change.
  bool stale = false;

  int running() const { return study.trials_running(); }
  bool Active() const {
    return study.state() == vmle::v1::STUDY_STATE_RUNNING || study.state() == vmle::v1::STUDY_STATE_PENDING;
  }
  // No longer active and no trial running: its watchers end once they have every event.
  bool Ended() const { return !Active() && running() == 0; }
};

}  // namespace vmle::agent::internal
