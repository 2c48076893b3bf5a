// PlanningDriver: the agent's ML engineer at work on every study (study_manager.h is
// the core's facade). It reloads the unfinished studies when the agent starts, then
// steps each active study whenever something happened to it: reflect on trials that
// finished (L1 memory) and consolidate the reflections (L2), recall cognition
// summaries of earlier studies once the dataset's profile is known (L3), finish a
// study whose trials are all done (distilling its cognition summary), and propose new
// trials while the study has room (parallelism and budget).
//
// Contract:
// - Planner calls (which may wait for an LLM) run without the ledger's lock; what they
//   return is applied under it only while the study is still in a state that accepts
//   it, changes of the study's record (proposals, recalled summaries, the end) with
//   its write slot. Each study's planner is called from one thread at a time.
// - A round's proposals are validated against the study's space once
//   (TrialConfiguration) and queued in one write, each with its seed plan checked
//   against the study (a plan naming an unknown trial is dropped). With a TrialHandoff,
//   the first of them go to the workers waiting now, leased by that same write; `queued`
//   is called afterwards so waiting workers can lease the rest.
// - A planner that fails, or proposes an invalid configuration, fails the study
//   (StudyEnding), naming the planner and the reason.
// - Reflections, insights and cognition summaries are stored in memory before they are
//   applied. A reflection, a round's proposals, recalled summaries or the end of a
//   study whose write fails is tried again on a later round; working insights that
//   cannot be stored are skipped (the next consolidation replaces them), and so is a
//   reflection's event (the reflection itself is stored).
//
// Threads: one coordinator thread (Start to Stop) hands the studies with new work to a
// StepPool (step_pool.h) of Options::planning_threads steppers, so different studies
// plan and write concurrently. NewWorkLocked(study) is called, with the ledger's lock
// held, by whatever gives a study something to plan: only that study is stepped (an
// event costs one step, however many studies there are). Every study is stepped at
// the start, and whenever a second passes with no event at all.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "services/agent/planner/planner.h"
#include "services/agent/study/agent_metrics.h"
#include "services/agent/study/memory_client.h"
#include "services/agent/study/step_pool.h"
#include "services/agent/study/study_ending.h"
#include "services/agent/study/study_ledger.h"
#include "services/agent/study/trial_handoff.h"

namespace vmle::agent {

class PlanningDriver {
 public:
  using StudyEntry = internal::StudyEntry;

  struct Options {
    // Threads that step studies, one study each at a time.
    int planning_threads = 4;
    // Cognition summaries recalled at the start of a study (unless transfer is off).
    int recall_k = 3;
  };

  // `memory` stores reflections, insights and summaries (not owned); `queued` is
  // called, with the ledger's lock held, after new trials of a study were queued;
  // `handoff` (not owned; may be null: none) leases a round's trials to waiting workers
  // by the round's write.
  PlanningDriver(Options options, StudyLedger& ledger, StudyEnding& ending, MemoryClient& memory,
                 AgentMetrics& metrics, std::function<void(const StudyEntry&)> queued,
                 TrialHandoff* handoff = nullptr);
  ~PlanningDriver();
  PlanningDriver(const PlanningDriver&) = delete;
  PlanningDriver& operator=(const PlanningDriver&) = delete;

  // Starts the coordinator: it reloads the ledger's unfinished studies (retrying while
  // the memory service does not answer), then steps studies until Stop.
  void Start();
  // Joins the coordinator and the steppers; a step running now ends at its next check
  // of the ledger. The ledger must be stopping already (StudyLedger::Stop), also before
  // the destructor, which calls this. Idempotent.
  void Stop();

  // Something happened that the planning of study `study_id` may act on: it is
  // stepped on the next round.
  void NewWorkLocked(const std::string& study_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());

 private:
  // The planner's view of a study: its trials without epochs and test metrics.
  PlanningContext ContextLocked(StudyEntry& entry) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());

  void Loop();
  // One step of a study, on a thread of the pool (each study on one at a time).
  void StepStudy(const std::string& study_id);
  void ReflectPending(StudyEntry& entry);
  // L1 -> L2 through the planner; stores the new insights.
  void ConsolidateInsights(StudyEntry& entry, PlanningContext context);
  void RecallIfReady(StudyEntry& entry);
  void ProposeIfRoom(StudyEntry& entry);
  void FinishIfDone(StudyEntry& entry);
  void FailStudyLocked(StudyEntry& entry, const std::string& error) ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());
  // The study's step could not finish its work (a write failed, its slot was busy):
  // it is stepped again on the next round.
  void RetryLocked(const StudyEntry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(ledger_.mu());

  const Options options_;
  StudyLedger& ledger_;
  StudyEnding& ending_;
  MemoryClient& memory_;
  AgentMetrics& metrics_;
  const std::function<void(const StudyEntry&)> queued_;
  TrialHandoff* const handoff_;

  // Wakes the coordinator.
  absl::CondVar work_cv_;
  // The studies to step on the next round; every active one when `all_pending_`.
  absl::flat_hash_set<std::string> pending_ ABSL_GUARDED_BY(ledger_.mu());
  bool all_pending_ ABSL_GUARDED_BY(ledger_.mu()) = false;
  std::thread thread_;
  std::unique_ptr<StepPool> step_pool_;
};

}  // namespace vmle::agent
