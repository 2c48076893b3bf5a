// StudyEnding through its header: which stop condition holds and the state it ends
// in, and what beginning an ending stores (queued trials stopped, running ones told
// to stop, a cancelled study stored at once), also when a write fails midway.
#include "services/agent/study/study_ending.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/agent/core_parts.h"

namespace vmle::agent::testing {
namespace {

using internal::StudyEntry;
using vmle::v1::Trial;

class StudyEndingTest : public LedgerTest {
 protected:
  // A study held by the ledger with trial 1 running and trials 2 and 3 queued.
  StudyEntry* StudyWithWork(const std::string& id) {
    StudyEntry* entry = CoreParts::Create(*ledger_, NewStudy(id, "random", 6, 3));
    EXPECT_NE(entry, nullptr);
    if (entry == nullptr) return nullptr;
    EXPECT_TRUE(CoreParts::Commit(*ledger_, *entry,
                                  {NewTrial(id, 1, vmle::v1::TRIAL_STATUS_RUNNING),
                                   NewTrial(id, 2, vmle::v1::TRIAL_STATUS_QUEUED),
                                   NewTrial(id, 3, vmle::v1::TRIAL_STATUS_QUEUED)})
                    .ok());
    return entry;
  }
};

TEST_F(StudyEndingTest, StopReasonsInOrderWithTheirFinalState) {
  absl::StatusOr<std::unique_ptr<StudyEntry>> made = ledger_->NewEntry(NewStudy("st-r"));
  ASSERT_TRUE(made.ok());
  StudyEntry& entry = **made;
  vmle::v1::Budget& budget = *entry.study.mutable_spec()->mutable_budget();
  absl::MutexLock lock(&ledger_->mu());
  vmle::v1::StudyState state = vmle::v1::STUDY_STATE_UNSPECIFIED;
  EXPECT_EQ(ending_.StopReasonLocked(entry, &state), "");

  // The wall-time limit of the current run.
  budget.set_max_wall_seconds(10);
  entry.run_started = absl::Now() - absl::Seconds(11);
  EXPECT_EQ(ending_.StopReasonLocked(entry, &state), "wall-time limit of 10 s reached");
  EXPECT_EQ(state, vmle::v1::STUDY_STATE_SUCCEEDED);
  entry.run_started = absl::Now();
  EXPECT_EQ(ending_.StopReasonLocked(entry, &state), "");

  // The target, in the objective's direction (NDCG: higher is better).
  entry.study.set_has_best(true);
  entry.study.set_best_trial_id("st-r-t1");
  entry.study.set_best_value(0.05);
  budget.set_has_target(true);
  budget.set_target_value(0.06);
  EXPECT_EQ(ending_.StopReasonLocked(entry, &state), "");
  entry.study.set_best_value(0.061);
  EXPECT_EQ(ending_.StopReasonLocked(entry, &state), "target 0.06 reached by st-r-t1");
  budget.set_has_target(false);

  // Failures come first, and end the study FAILED.
  budget.set_max_failed_trials(2);
  entry.study.set_trials_failed(2);
  EXPECT_EQ(ending_.StopReasonLocked(entry, &state), "2 trials failed (max_failed_trials 2)");
  EXPECT_EQ(state, vmle::v1::STUDY_STATE_FAILED);

  // Nothing holds for a study already ending, or no longer active.
  entry.ending = true;
  EXPECT_EQ(ending_.StopReasonLocked(entry, &state), "");
  entry.ending = false;
  entry.study.set_state(vmle::v1::STUDY_STATE_SUCCEEDED);
  EXPECT_EQ(ending_.StopReasonLocked(entry, &state), "");
}

TEST_F(StudyEndingTest, PatienceCountsTrialsOfTheRunFinishedAfterTheBest) {
  StudyEntry* entry = CoreParts::Create(*ledger_, NewStudy("st-p", "random", 8, 2));
  ASSERT_NE(entry, nullptr);
  std::vector<Trial> trials;
  for (int n = 1; n <= 4; ++n) {
    Trial t = NewTrial("st-p", n, vmle::v1::TRIAL_STATUS_SUCCEEDED);
    t.set_attempts(1);
    (*t.mutable_config()->mutable_values())["lr"].set_float_value(1e-4 * n);  // four configurations
    t.mutable_validation()->set_ndcg_at_10(n == 1 ? 0.05 : 0.01);
    t.set_objective_value(t.validation().ndcg_at_10());
    *t.mutable_finished_at() = internal::ToTimestamp(absl::Now() + absl::Seconds(n));
    trials.push_back(t);
  }
  ASSERT_TRUE(CoreParts::Commit(*ledger_, *entry, trials).ok());
  absl::MutexLock lock(&ledger_->mu());
  ASSERT_EQ(entry->study.best_trial_id(), "st-p-t1");
  entry->study.mutable_spec()->mutable_budget()->set_no_improvement_patience(3);
  vmle::v1::StudyState state;
  EXPECT_EQ(ending_.StopReasonLocked(*entry, &state), "no improvement in the last 3 trials (patience 3)");
  // After a resume from trial 4, only trial 4 counts.
  entry->first_trial_of_run = 4;
  EXPECT_EQ(ending_.StopReasonLocked(*entry, &state), "");
}

TEST_F(StudyEndingTest, BeginStopsQueuedTrialsAndTellsRunningOnes) {
  StudyEntry* entry = StudyWithWork("st-b");
  ASSERT_NE(entry, nullptr);
  absl::MutexLock lock(&ledger_->mu());
  StudyLedger::WriteSlot slot(*ledger_, *entry);
  ASSERT_TRUE(slot.Acquire(absl::ZeroDuration()).ok());
  ASSERT_TRUE(ending_.BeginLocked(*entry, "enough", vmle::v1::STUDY_STATE_SUCCEEDED).ok());
  EXPECT_TRUE(entry->ending);
  EXPECT_TRUE(entry->queue.empty());
  EXPECT_TRUE(entry->trials.at(1).stop_requested);
  EXPECT_EQ(entry->trials.at(1).stop_reason, "enough");
  EXPECT_EQ(entry->trials.at(1).trial.status(), vmle::v1::TRIAL_STATUS_RUNNING);
  for (int n : {2, 3}) {
    EXPECT_EQ(entry->trials.at(n).trial.status(), vmle::v1::TRIAL_STATUS_STOPPED);
    EXPECT_EQ(entry->trials.at(n).trial.error(), "not started: enough");
  }
  // The study runs on until its last trial reports; the planning driver finishes it.
  EXPECT_EQ(entry->study.state(), vmle::v1::STUDY_STATE_RUNNING);
  EXPECT_EQ(new_work_, 1);
  EXPECT_EQ(new_work_study_, "st-b");
  ledger_->mu().Unlock();
  absl::StatusOr<std::vector<Trial>> stored = parts_.client().ListTrials("st-b");
  ledger_->mu().Lock();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ((*stored)[1].status(), vmle::v1::TRIAL_STATUS_STOPPED);
  EXPECT_EQ((*stored)[2].status(), vmle::v1::TRIAL_STATUS_STOPPED);
}

TEST_F(StudyEndingTest, ACancelledStudyIsStoredCancelledAtOnce) {
  StudyEntry* entry = StudyWithWork("st-c");
  ASSERT_NE(entry, nullptr);
  {
    absl::MutexLock lock(&ledger_->mu());
    StudyLedger::WriteSlot slot(*ledger_, *entry);
    ASSERT_TRUE(slot.Acquire(absl::ZeroDuration()).ok());
    ASSERT_TRUE(ending_.BeginLocked(*entry, "by the user", vmle::v1::STUDY_STATE_CANCELLED).ok());
    EXPECT_EQ(entry->study.state(), vmle::v1::STUDY_STATE_CANCELLED);
    EXPECT_EQ(entry->study.end_reason(), "by the user");
  }
  absl::StatusOr<vmle::v1::Study> stored = parts_.client().GetStudy("st-c");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->state(), vmle::v1::STUDY_STATE_CANCELLED);
  EXPECT_TRUE(stored->has_finished_at());
}

TEST_F(StudyEndingTest, AFailedWriteLeavesTheRestQueuedForTheNextTry) {
  StudyEntry* entry = StudyWithWork("st-f");
  ASSERT_NE(entry, nullptr);
  parts_.cluster().StopMemory();
  absl::MutexLock lock(&ledger_->mu());
  {
    StudyLedger::WriteSlot slot(*ledger_, *entry);
    ASSERT_TRUE(slot.Acquire(absl::ZeroDuration()).ok());
    EXPECT_EQ(ending_.BeginLocked(*entry, "enough", vmle::v1::STUDY_STATE_SUCCEEDED).code(),
              absl::StatusCode::kUnavailable);
  }
  // Ending, running trials told (no write needed), queued ones still queued.
  EXPECT_TRUE(entry->ending);
  EXPECT_EQ(entry->end_reason, "enough");
  EXPECT_TRUE(entry->trials.at(1).stop_requested);
  EXPECT_EQ(std::vector<int>(entry->queue.begin(), entry->queue.end()), (std::vector<int>{2, 3}));
  EXPECT_EQ(entry->trials.at(2).trial.status(), vmle::v1::TRIAL_STATUS_QUEUED);
}

}  // namespace
}  // namespace vmle::agent::testing
