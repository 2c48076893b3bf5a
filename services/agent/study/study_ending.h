// StudyEnding: when a study must stop, and how it stops. Part of the agent's core
// (study_manager.h is its facade), used by the lease queue (a result can end a study),
// the planning driver (a planner that fails ends it), the sweeper and Cancel.
//
// Contract:
// - StopReason: the first stop condition that holds for an active study not already
//   ending: max_failed_trials (it ends FAILED), the target reached, no improvement in
//   `no_improvement_patience` trials of the current run, or the wall-time limit of the
//   current run (each ends SUCCEEDED); "" when none holds.
// - Begin: the study takes no new trial from now on. Running trials are told to stop
//   (at their next report, no write needed), queued ones are stored as stopped, one
//   write each; a cancelled study is stored CANCELLED at once, any other keeps running
//   until its last trial reports and the planning driver finishes it. A failed write
//   leaves the study ending, with the trials not yet stopped still queued: calling
//   Begin again (the sweeper does) goes on from there.
//
// Threads: every method requires the ledger's lock; BeginLocked and CheckLocked also the
// study's write slot (their writes release the lock meanwhile, study_ledger.h).
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "services/agent/study/agent_metrics.h"
#include "services/agent/study/study_ledger.h"

namespace vmle::agent {

class StudyEnding {
 public:
  using StudyEntry = internal::StudyEntry;

  // `new_work` is called, with the ledger's lock held, when an ending leaves the
  // planning driver something to do with the study (finish it).
  StudyEnding(StudyLedger& ledger, AgentMetrics& metrics, std::function<void(const StudyEntry&)> new_work)
      : ledger_(ledger), metrics_(metrics), new_work_(std::move(new_work)) {}

  // The reason the study must stop now and the state it ends in, or "".
  std::string StopReasonLocked(const StudyEntry& entry, vmle::v1::StudyState* final_state) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());
  // Begins ending the study (see above).
  absl::Status BeginLocked(StudyEntry& entry, const std::string& reason, vmle::v1::StudyState final_state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());
  // Begins ending the study when a stop condition holds.
  absl::Status CheckLocked(StudyEntry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());

 private:
  StudyLedger& ledger_;
  AgentMetrics& metrics_;
  const std::function<void(const StudyEntry&)> new_work_;
};

}  // namespace vmle::agent
