// The lease queue through its header, on a real memory service: a lease is stored
// before it is handed out, a waiting call holds no thread and gets a trial queued
// later, heartbeats and results check the lease, a retried result succeeds, expired
// leases requeue, devices match, studies are served fairly, a report of several
// epochs stores each and early stopping judges each, a planning round's trials are
// handed to waiting calls by the round's write, and bad requests name their field.
#include "services/agent/study/lease_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "tests/agent/core_parts.h"

namespace vmle::agent::testing {
namespace {

using internal::StudyEntry;
using vmle::v1::Trial;

class LeaseQueueTest : public LedgerTest {
 protected:
  ~LeaseQueueTest() override {
    ledger_->Stop();
    if (queue_ != nullptr) queue_->Stop();
  }

  void StartQueue(absl::Duration lease_duration = absl::Seconds(30)) {
    queue_ = std::make_unique<LeaseQueue>(
        LeaseQueue::Options{.lease_duration = lease_duration,
                            .heartbeat_interval = absl::Seconds(1),
                            .max_lease_wait = absl::Seconds(10),
                            .lease_threads = 2},
        *ledger_, ending_, parts_.metrics(), NewWork());
    parts_.on_slot_released = [this](const StudyEntry& entry)
                                  ABSL_NO_THREAD_SAFETY_ANALYSIS { queue_->WakeLeasersLocked(entry); };
    queue_->Start();
  }

  // A study with `queued` trials queued, on `device`.
  StudyEntry* StudyWithQueue(const std::string& id, int queued, const std::string& device = "",
                             int parallelism = 2) {
    vmle::v1::Study study = NewStudy(id, "random", 8, parallelism);
    study.mutable_spec()->set_device(device);
    StudyEntry* entry = CoreParts::Create(*ledger_, study);
    EXPECT_NE(entry, nullptr);
    if (entry == nullptr) return nullptr;
    std::vector<Trial> trials;
    for (int n = 1; n <= queued; ++n) trials.push_back(NewTrial(id, n, vmle::v1::TRIAL_STATUS_QUEUED));
    EXPECT_TRUE(CoreParts::Commit(*ledger_, *entry, trials).ok());
    return entry;
  }

  static vmle::v1::LeaseTrialRequest Request(const std::string& worker, const std::string& device = "",
                                             int wait_seconds = 5) {
    vmle::v1::LeaseTrialRequest request;
    request.mutable_worker()->set_worker_id(worker);
    request.mutable_worker()->set_device(device);
    request.set_wait_seconds(wait_seconds);
    return request;
  }

  // The answer of one LeaseAsync call; shared with the callback, so a call answered
  // after a failed assertion ended the test writes to live memory.
  struct Answer {
    absl::Notification done;
    absl::StatusOr<vmle::v1::LeaseTrialResponse> result;
  };
  std::shared_ptr<Answer> LeaseAsync(const vmle::v1::LeaseTrialRequest& request, uint64_t* ticket = nullptr) {
    auto answer = std::make_shared<Answer>();
    const uint64_t t = queue_->LeaseAsync(request, [answer](absl::StatusOr<vmle::v1::LeaseTrialResponse> r) {
      answer->result = std::move(r);
      answer->done.Notify();
    });
    if (ticket != nullptr) *ticket = t;
    return answer;
  }

  absl::StatusOr<vmle::v1::LeaseTrialResponse> Lease(const vmle::v1::LeaseTrialRequest& request) {
    return queue_->Lease(request, [] { return false; });
  }

  // Waits until `n` LeaseTrial calls wait in the line (a lease thread has let them in).
  bool WaitForCallsInLine(size_t n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (queue_->Waiting() < n) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return true;
  }

  Trial HeldTrial(StudyEntry& entry, int number) {
    absl::MutexLock lock(&ledger_->mu());
    return entry.trials.at(number).trial;
  }

  // A study with successive halving (rungs at epochs 2, 4, ...; 2 other values needed
  // at a rung), two finished trials at .05 over epochs 1-3, and trial 1 queued; starts
  // the queue and leases trial 1 to w-1. Its lease id, "" on failure (asserted).
  std::string LeaseTrialOneWithARungAtEpoch2(const std::string& id, StudyEntry** entry_out) {
    vmle::v1::Study study = NewStudy(id, "random", 8, 2);
    auto* rule = study.mutable_spec()->mutable_early_stopping();
    rule->set_rule(vmle::v1::EARLY_STOPPING_RULE_SUCCESSIVE_HALVING);
    rule->set_grace_epochs(2);
    rule->set_min_trials(2);
    rule->set_reduction_factor(2);
    StudyEntry* entry = CoreParts::Create(*ledger_, study);
    *entry_out = entry;
    EXPECT_NE(entry, nullptr);
    if (entry == nullptr) return "";
    std::vector<Trial> trials = {NewTrial(id, 1, vmle::v1::TRIAL_STATUS_QUEUED)};
    for (int n : {2, 3}) {
      Trial done = NewTrial(id, n, vmle::v1::TRIAL_STATUS_SUCCEEDED);
      for (int e = 1; e <= 3; ++e) *done.add_epochs() = Epoch(e, 0.05);
      trials.push_back(done);
    }
    EXPECT_TRUE(CoreParts::Commit(*ledger_, *entry, trials).ok());
    StartQueue();
    absl::StatusOr<vmle::v1::LeaseTrialResponse> leased = Lease(Request("w-1"));
    EXPECT_TRUE(leased.ok() && leased->has_assignment());
    return leased.ok() ? leased->assignment().lease_id() : "";
  }

  // A report of `epochs` (numbered from `first`, consecutive) for a trial.
  static vmle::v1::ReportProgressRequest Report(const std::string& trial_id, const std::string& lease_id,
                                                int first, const std::vector<double>& epochs) {
    vmle::v1::ReportProgressRequest progress;
    progress.set_trial_id(trial_id);
    progress.set_lease_id(lease_id);
    for (size_t i = 0; i < epochs.size(); ++i) {
      *(i == 0 ? progress.mutable_epoch() : progress.add_later_epochs()) =
          Epoch(first + static_cast<int>(i), epochs[i]);
    }
    return progress;
  }

  static vmle::v1::EpochMetrics Epoch(int number, double ndcg) {
    vmle::v1::EpochMetrics e;
    e.set_epoch(number);
    e.mutable_validation()->set_ndcg_at_10(ndcg);
    return e;
  }

  std::unique_ptr<LeaseQueue> queue_;
};

TEST_F(LeaseQueueTest, ALeaseIsStoredBeforeItIsHandedOut) {
  StudyEntry* entry = StudyWithQueue("st-a", 2);
  ASSERT_NE(entry, nullptr);
  StartQueue();
  absl::StatusOr<vmle::v1::LeaseTrialResponse> leased = Lease(Request("w-1"));
  ASSERT_TRUE(leased.ok()) << leased.status();
  ASSERT_TRUE(leased->has_assignment());
  const vmle::v1::TrialAssignment& a = leased->assignment();
  EXPECT_EQ(a.trial_id(), "st-a-t1");
  EXPECT_EQ(a.study_id(), "st-a");
  EXPECT_FALSE(a.lease_id().empty());
  EXPECT_EQ(a.heartbeat_seconds(), 1);
  absl::StatusOr<std::vector<Trial>> stored = parts_.client().ListTrials("st-a");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ((*stored)[0].status(), vmle::v1::TRIAL_STATUS_RUNNING);
  EXPECT_EQ((*stored)[0].lease_id(), a.lease_id());
  EXPECT_EQ((*stored)[0].worker_id(), "w-1");
  EXPECT_EQ((*stored)[0].attempts(), 1);
  absl::MutexLock lock(&ledger_->mu());
  EXPECT_EQ(std::vector<int>(entry->queue.begin(), entry->queue.end()), (std::vector<int>{2}));
}

TEST_F(LeaseQueueTest, AWaitingCallGetsATrialQueuedLater) {
  StudyEntry* entry = StudyWithQueue("st-w", 0);
  ASSERT_NE(entry, nullptr);
  StartQueue();
  uint64_t ticket = 0;
  std::shared_ptr<Answer> answer = LeaseAsync(Request("w-1", "", 10), &ticket);
  EXPECT_NE(ticket, 0u);
  EXPECT_FALSE(answer->done.WaitForNotificationWithTimeout(absl::Milliseconds(300)));
  // Queued now: the slot's release wakes a lease thread.
  ASSERT_TRUE(CoreParts::Commit(*ledger_, *entry, {NewTrial("st-w", 1, vmle::v1::TRIAL_STATUS_QUEUED)}).ok());
  ASSERT_TRUE(answer->done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  ASSERT_TRUE(answer->result.ok()) << answer->result.status();
  EXPECT_EQ(answer->result->assignment().trial_id(), "st-w-t1");
}

// A round's trials, as the planning driver writes them: queued, one event each.
std::vector<Trial> RoundOf(const std::string& study_id, int first, int count) {
  std::vector<Trial> trials;
  for (int n = first; n < first + count; ++n) trials.push_back(NewTrial(study_id, n, vmle::v1::TRIAL_STATUS_QUEUED));
  return trials;
}

TEST_F(LeaseQueueTest, AHandoffLeasesARoundsTrialsToTheCallsWaitingByTheRoundsOwnWrite) {
  StudyEntry* entry = StudyWithQueue("st-h", 0, "cuda", 3);
  ASSERT_NE(entry, nullptr);
  StartQueue();
  std::shared_ptr<Answer> cpu = LeaseAsync(Request("w-cpu", "cpu", 10));
  std::shared_ptr<Answer> gpu = LeaseAsync(Request("w-gpu", "cuda:0", 10));
  // Both join the line; neither has a trial yet.
  ASSERT_TRUE(WaitForCallsInLine(2));
  EXPECT_FALSE(gpu->done.HasBeenNotified());
  LeaseLine::Taken calls;
  std::vector<Trial> trials = RoundOf("st-h", 1, 2);
  int64_t version_before = 0;
  {
    absl::MutexLock lock(&ledger_->mu());
    StudyLedger::WriteSlot slot(*ledger_, *entry);
    ASSERT_TRUE(slot.Acquire(StudyLedger::kSlotWait).ok());
    version_before = entry->study.version();
    std::vector<vmle::v1::StudyEvent> events;
    for (const Trial& t : trials) {
      events.push_back(StudyLedger::MakeEvent(*entry, vmle::v1::StudyEvent::TYPE_TRIAL_QUEUED, t.id(), "queued"));
    }
    calls = queue_->AssignLocked(*entry, trials, events);
    // Only the cuda worker can run this study's trials: it gets the first; the second stays queued.
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0]->worker.worker_id(), "w-gpu");
    EXPECT_EQ(trials[0].status(), vmle::v1::TRIAL_STATUS_RUNNING);
    EXPECT_EQ(trials[0].worker_id(), "w-gpu");
    EXPECT_EQ(trials[0].attempts(), 1);
    EXPECT_FALSE(trials[0].lease_id().empty());
    EXPECT_EQ(trials[1].status(), vmle::v1::TRIAL_STATUS_QUEUED);
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(events[2].type(), vmle::v1::StudyEvent::TYPE_TRIAL_STARTED);
    const absl::Status written = ledger_->CommitLocked(*entry, entry->study, trials, std::move(events));
    ASSERT_TRUE(written.ok()) << written;
    queue_->SettleLocked(*entry, trials, written, calls);
    entry->queue.push_back(2);
    // One write stored the round and the lease.
    EXPECT_EQ(entry->study.version(), version_before + 1);
    EXPECT_EQ(entry->running(), 1);
  }
  ASSERT_EQ(calls.size(), 1u);
  ASSERT_TRUE(calls[0]->result.ok());
  const vmle::v1::TrialAssignment a = calls[0]->result->assignment();
  calls[0]->Answer();
  ASSERT_TRUE(gpu->done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  ASSERT_TRUE(gpu->result.ok()) << gpu->result.status();
  EXPECT_EQ(gpu->result->assignment().trial_id(), "st-h-t1");
  EXPECT_EQ(a.lease_id(), trials[0].lease_id());
  absl::StatusOr<std::vector<Trial>> stored = parts_.client().ListTrials("st-h");
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 2u);
  EXPECT_EQ((*stored)[0].status(), vmle::v1::TRIAL_STATUS_RUNNING);
  EXPECT_EQ((*stored)[0].lease_id(), a.lease_id());
  EXPECT_EQ((*stored)[1].status(), vmle::v1::TRIAL_STATUS_QUEUED);
  // The lease holds: a heartbeat with it is accepted.
  vmle::v1::HeartbeatRequest beat;
  beat.set_trial_id(a.trial_id());
  beat.set_lease_id(a.lease_id());
  EXPECT_TRUE(queue_->Heartbeat(beat).ok());
  // The cpu worker was left in the line, and gets nothing from a cuda study.
  EXPECT_FALSE(cpu->done.WaitForNotificationWithTimeout(absl::Milliseconds(300)));
}

TEST_F(LeaseQueueTest, AHandoffServesACallThatArrivedWhileTheRoundWasPlanned) {
  StudyEntry* entry = StudyWithQueue("st-ha", 0, "", 2);
  ASSERT_NE(entry, nullptr);
  StartQueue();
  std::shared_ptr<Answer> late;
  LeaseLine::Taken calls;
  std::vector<Trial> trials = RoundOf("st-ha", 1, 1);
  {
    absl::MutexLock lock(&ledger_->mu());
    StudyLedger::WriteSlot slot(*ledger_, *entry);
    ASSERT_TRUE(slot.Acquire(StudyLedger::kSlotWait).ok());
    // The call arrives while the round holds the ledger's lock: no lease thread can
    // let it into the line before the round hands out its trials.
    late = LeaseAsync(Request("w-late", "", 10));
    std::vector<vmle::v1::StudyEvent> events;
    calls = queue_->AssignLocked(*entry, trials, events);
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0]->worker.worker_id(), "w-late");
    const absl::Status written = ledger_->CommitLocked(*entry, entry->study, trials, std::move(events));
    ASSERT_TRUE(written.ok()) << written;
    queue_->SettleLocked(*entry, trials, written, calls);
    EXPECT_EQ(entry->running(), 1);
  }
  for (auto& call : calls) call->Answer();
  ASSERT_TRUE(late->done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  ASSERT_TRUE(late->result.ok()) << late->result.status();
  EXPECT_EQ(late->result->assignment().trial_id(), "st-ha-t1");
}

TEST_F(LeaseQueueTest, WhenTheRoundsWriteFailsEachCallHandedATrialGetsTheError) {
  StudyEntry* entry = StudyWithQueue("st-hf", 0, "", 2);
  ASSERT_NE(entry, nullptr);
  StartQueue();
  std::shared_ptr<Answer> waiting = LeaseAsync(Request("w-1", "", 10));
  ASSERT_TRUE(WaitForCallsInLine(1));
  LeaseLine::Taken calls;
  {
    absl::MutexLock lock(&ledger_->mu());
    StudyLedger::WriteSlot slot(*ledger_, *entry);
    ASSERT_TRUE(slot.Acquire(StudyLedger::kSlotWait).ok());
    std::vector<Trial> trials = RoundOf("st-hf", 1, 1);
    std::vector<vmle::v1::StudyEvent> events;
    calls = queue_->AssignLocked(*entry, trials, events);
    ASSERT_EQ(calls.size(), 1u);
    queue_->SettleLocked(*entry, trials, absl::UnavailableError("memory service unavailable"), calls);
    // Nothing of the round is held, and the worker is not busy.
    EXPECT_EQ(entry->trials.count(1), 0u);
    EXPECT_EQ(queue_->WorkersLocked(absl::Now(), absl::Minutes(1))["busy"], 0);
  }
  for (auto& call : calls) call->Answer();
  ASSERT_TRUE(waiting->done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(waiting->result.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(LeaseQueueTest, AWithdrawnCallIsAnsweredWithoutATrial) {
  StartQueue();
  uint64_t ticket = 0;
  std::shared_ptr<Answer> answer = LeaseAsync(Request("w-1", "", 60), &ticket);
  queue_->CancelLease(ticket);
  ASSERT_TRUE(answer->done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  ASSERT_TRUE(answer->result.ok());
  EXPECT_FALSE(answer->result->has_assignment());
}

TEST_F(LeaseQueueTest, HeartbeatsAndResultsCheckTheLeaseAndARetriedResultSucceeds) {
  StudyEntry* entry = StudyWithQueue("st-h", 1);
  ASSERT_NE(entry, nullptr);
  StartQueue();
  absl::StatusOr<vmle::v1::LeaseTrialResponse> leased = Lease(Request("w-1"));
  ASSERT_TRUE(leased.ok() && leased->has_assignment());
  const std::string trial_id = leased->assignment().trial_id();
  const std::string lease_id = leased->assignment().lease_id();

  vmle::v1::HeartbeatRequest beat;
  beat.set_trial_id(trial_id);
  beat.set_lease_id("ls-someone-else");
  EXPECT_EQ(queue_->Heartbeat(beat).status().code(), absl::StatusCode::kFailedPrecondition);
  beat.set_lease_id(lease_id);
  absl::StatusOr<vmle::v1::HeartbeatResponse> alive = queue_->Heartbeat(beat);
  ASSERT_TRUE(alive.ok()) << alive.status();
  EXPECT_FALSE(alive->stop());

  vmle::v1::ReportProgressRequest progress;
  progress.set_trial_id(trial_id);
  progress.set_lease_id(lease_id);
  progress.mutable_epoch()->set_epoch(1);
  progress.mutable_epoch()->mutable_validation()->set_ndcg_at_10(0.04);
  absl::StatusOr<vmle::v1::ReportProgressResponse> reported = queue_->Progress(progress);
  ASSERT_TRUE(reported.ok()) << reported.status();
  EXPECT_EQ(reported->action(), vmle::v1::ReportProgressResponse::ACTION_CONTINUE);
  EXPECT_EQ(HeldTrial(*entry, 1).epochs_size(), 1);

  const int work_before = new_work_;
  vmle::v1::CompleteTrialRequest done;
  done.set_trial_id(trial_id);
  done.set_lease_id(lease_id);
  done.mutable_validation()->set_ndcg_at_10(0.05);
  done.set_best_epoch(1);
  ASSERT_TRUE(queue_->Complete(done).ok());
  EXPECT_GT(new_work_, work_before);
  EXPECT_EQ(new_work_study_, entry->study.id());
  const Trial finished = HeldTrial(*entry, 1);
  EXPECT_EQ(finished.status(), vmle::v1::TRIAL_STATUS_SUCCEEDED);
  EXPECT_DOUBLE_EQ(finished.objective_value(), 0.05);
  // Its answer was lost: the retry succeeds and changes nothing.
  ASSERT_TRUE(queue_->Complete(done).ok());
  EXPECT_EQ(parts_.client().ListTrials("st-h")->at(0).status(), vmle::v1::TRIAL_STATUS_SUCCEEDED);
  // Another lease's result is refused: the worker abandons the trial.
  done.set_lease_id("ls-someone-else");
  EXPECT_EQ(queue_->Complete(done).code(), absl::StatusCode::kFailedPrecondition);
}

int ProgressEvents(MemoryClient& client, const std::string& study_id) {
  absl::StatusOr<std::vector<vmle::v1::StudyEvent>> events = client.ListEvents(study_id, 0);
  EXPECT_TRUE(events.ok()) << events.status();
  int n = 0;
  for (const auto& e : events.value_or(std::vector<vmle::v1::StudyEvent>{})) {
    n += e.type() == vmle::v1::StudyEvent::TYPE_TRIAL_PROGRESS;
  }
  return n;
}

// A worker whose epochs are shorter than its report interval sends them together:
// each is stored, and early stopping judges each as if reported alone. A report of
// epochs 1-3 passes the rung at 2 although the curve it leaves ends between rungs.
TEST_F(LeaseQueueTest, AReportOfSeveralEpochsStoresEachAndEarlyStoppingJudgesEach) {
  StudyEntry* entry = nullptr;
  const std::string lease_id = LeaseTrialOneWithARungAtEpoch2("st-e", &entry);
  ASSERT_NE(entry, nullptr);
  ASSERT_FALSE(lease_id.empty());

  vmle::v1::ReportProgressRequest progress = Report("st-e-t1", lease_id, 1, {0.01, 0.01, 0.01});
  absl::StatusOr<vmle::v1::ReportProgressResponse> reported = queue_->Progress(progress);
  ASSERT_TRUE(reported.ok()) << reported.status();
  EXPECT_EQ(reported->action(), vmle::v1::ReportProgressResponse::ACTION_STOP);
  EXPECT_NE(reported->reason().find("epoch 2"), std::string::npos) << reported->reason();
  absl::StatusOr<std::vector<Trial>> stored = parts_.client().ListTrials("st-e");
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ((*stored)[0].epochs_size(), 3);
  for (int e = 0; e < 3; ++e) EXPECT_EQ((*stored)[0].epochs(e).epoch(), e + 1);
  EXPECT_EQ(HeldTrial(*entry, 1).epochs_size(), 3);
  EXPECT_EQ(ProgressEvents(parts_.client(), "st-e"), 3);

  // A retry of the same report (its answer was lost) adds neither epochs nor events.
  ASSERT_TRUE(queue_->Progress(progress).ok());
  EXPECT_EQ(parts_.client().ListTrials("st-e")->at(0).epochs_size(), 3);
  EXPECT_EQ(ProgressEvents(parts_.client(), "st-e"), 3);

  // Later epochs must follow on, and stay within bounds: the refusal names the field.
  *progress.add_later_epochs() = Epoch(5, 0.01);
  EXPECT_THAT(queue_->Progress(progress).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "later_epochs[2].epoch"));
  progress.mutable_later_epochs(2)->set_epoch(4);
  progress.mutable_later_epochs(2)->mutable_validation()->set_ndcg_at_10(2.0);
  EXPECT_THAT(queue_->Progress(progress).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "later_epochs[2].validation"));
  vmle::v1::ReportProgressRequest huge = progress;
  huge.mutable_epoch()->set_epoch(std::numeric_limits<int32_t>::max());
  huge.clear_later_epochs();
  EXPECT_THAT(queue_->Progress(huge).status(), StatusIs(absl::StatusCode::kInvalidArgument, "epoch.epoch"));

  // The epochs no report carried come with the result, and are stored with it.
  vmle::v1::CompleteTrialRequest done;
  done.set_trial_id("st-e-t1");
  done.set_lease_id(lease_id);
  done.set_best_epoch(5);
  done.mutable_validation()->set_ndcg_at_10(0.02);
  *done.add_final_epochs() = Epoch(4, 0.015);
  *done.add_final_epochs() = Epoch(6, 0.02);
  EXPECT_THAT(queue_->Complete(done), StatusIs(absl::StatusCode::kInvalidArgument, "final_epochs[1].epoch"));
  done.mutable_final_epochs(1)->set_epoch(5);
  ASSERT_TRUE(queue_->Complete(done).ok());
  const Trial finished = parts_.client().ListTrials("st-e")->at(0);
  ASSERT_EQ(finished.epochs_size(), 5);
  EXPECT_EQ(finished.epochs(4).epoch(), 5);
  EXPECT_DOUBLE_EQ(finished.epochs(4).validation().ndcg_at_10(), 0.02);
  EXPECT_EQ(ProgressEvents(parts_.client(), "st-e"), 5);
}

// The epochs that come with the result are judged as if reported: a trial whose
// last report was before the rung, and whose final epochs fail it, is stored as
// stopped by early stopping.
TEST_F(LeaseQueueTest, EpochsThatComeWithTheResultAreJudgedAsIfReported) {
  StudyEntry* entry = nullptr;
  const std::string lease_id = LeaseTrialOneWithARungAtEpoch2("st-f", &entry);
  ASSERT_NE(entry, nullptr);
  ASSERT_FALSE(lease_id.empty());
  absl::StatusOr<vmle::v1::ReportProgressResponse> reported = queue_->Progress(Report("st-f-t1", lease_id, 1, {0.01}));
  ASSERT_TRUE(reported.ok()) << reported.status();
  EXPECT_EQ(reported->action(), vmle::v1::ReportProgressResponse::ACTION_CONTINUE);

  vmle::v1::CompleteTrialRequest done;
  done.set_trial_id("st-f-t1");
  done.set_lease_id(lease_id);
  done.set_best_epoch(3);
  done.mutable_validation()->set_ndcg_at_10(0.012);
  *done.add_final_epochs() = Epoch(2, 0.011);
  *done.add_final_epochs() = Epoch(3, 0.012);
  ASSERT_TRUE(queue_->Complete(done).ok());
  const Trial finished = HeldTrial(*entry, 1);
  EXPECT_EQ(finished.status(), vmle::v1::TRIAL_STATUS_STOPPED);
  EXPECT_NE(finished.error().find("early stopping"), std::string::npos) << finished.error();
  EXPECT_EQ(finished.epochs_size(), 3);
}

TEST_F(LeaseQueueTest, AnExpiredLeaseIsQueuedAgain) {
  StudyEntry* entry = StudyWithQueue("st-x", 1);
  ASSERT_NE(entry, nullptr);
  StartQueue(absl::Milliseconds(100));
  absl::StatusOr<vmle::v1::LeaseTrialResponse> leased = Lease(Request("w-1"));
  ASSERT_TRUE(leased.ok() && leased->has_assignment());
  absl::SleepFor(absl::Milliseconds(200));
  {
    absl::MutexLock lock(&ledger_->mu());
    queue_->ExpireLeasesLocked();
  }
  Trial requeued = HeldTrial(*entry, 1);
  // Queued again, or already leased again by a waiting lease thread: either way a new
  // attempt, and the old lease is void.
  EXPECT_NE(requeued.lease_id(), leased->assignment().lease_id());
  EXPECT_NE(requeued.error().find("lease_expired"), std::string::npos) << requeued.error();
  vmle::v1::HeartbeatRequest beat;
  beat.set_trial_id(requeued.id());
  beat.set_lease_id(leased->assignment().lease_id());
  EXPECT_EQ(queue_->Heartbeat(beat).status().code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<vmle::v1::LeaseTrialResponse> again = Lease(Request("w-2"));
  ASSERT_TRUE(again.ok() && again->has_assignment());
  EXPECT_EQ(again->assignment().trial_id(), "st-x-t1");
  EXPECT_EQ(HeldTrial(*entry, 1).attempts(), 2);
}

TEST_F(LeaseQueueTest, WorkersLeaseOnlyWhatTheirDeviceMatches) {
  ASSERT_NE(StudyWithQueue("st-gpu", 1, "cuda"), nullptr);
  StartQueue();
  absl::StatusOr<vmle::v1::LeaseTrialResponse> cpu = Lease(Request("w-cpu", "cpu", 1));
  ASSERT_TRUE(cpu.ok());
  EXPECT_FALSE(cpu->has_assignment());
  absl::StatusOr<vmle::v1::LeaseTrialResponse> gpu = Lease(Request("w-gpu", "cuda:1", 10));
  ASSERT_TRUE(gpu.ok());
  ASSERT_TRUE(gpu->has_assignment());
  EXPECT_EQ(gpu->assignment().study_id(), "st-gpu");
}

TEST_F(LeaseQueueTest, StudiesAreServedFairly) {
  StudyEntry* a = StudyWithQueue("st-fa", 3, "", 3);
  StudyEntry* b = StudyWithQueue("st-fb", 3, "", 3);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  StartQueue();
  std::map<std::string, int> by_study;
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<vmle::v1::LeaseTrialResponse> leased = Lease(Request(absl::StrCat("w-", i)));
    ASSERT_TRUE(leased.ok() && leased->has_assignment());
    ++by_study[leased->assignment().study_id()];
  }
  EXPECT_EQ(by_study["st-fa"], 2);
  EXPECT_EQ(by_study["st-fb"], 2);
}

TEST_F(LeaseQueueTest, BadRequestsNameTheirField) {
  StartQueue();
  auto refused = [&](const vmle::v1::LeaseTrialRequest& request) {
    absl::StatusOr<vmle::v1::LeaseTrialResponse> r = Lease(request);
    return r.status();
  };
  EXPECT_THAT(refused(Request("")), StatusIs(absl::StatusCode::kInvalidArgument, "worker.worker_id"));
  EXPECT_THAT(refused(Request("w-1", "", -1)), StatusIs(absl::StatusCode::kInvalidArgument, "wait_seconds"));
  vmle::v1::FailTrialRequest fail;
  fail.set_trial_id("t");
  fail.set_lease_id("l");
  fail.set_failure_cause("gremlins");
  EXPECT_THAT(queue_->Fail(fail), StatusIs(absl::StatusCode::kInvalidArgument, "failure_cause"));
  vmle::v1::ReportProgressRequest progress;
  EXPECT_THAT(queue_->Progress(progress).status(), StatusIs(absl::StatusCode::kInvalidArgument, "epoch.epoch"));
  vmle::v1::HeartbeatRequest beat;
  beat.set_lease_id("l");
  EXPECT_THAT(queue_->Heartbeat(beat).status(), StatusIs(absl::StatusCode::kInvalidArgument, "trial_id"));
  beat.set_trial_id(std::string(100000, 'x'));
  absl::Status unknown = queue_->Heartbeat(beat).status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_LT(unknown.message().size(), 400u);
}

TEST_F(LeaseQueueTest, StopAnswersWaitingCallsUnavailable) {
  StartQueue();
  std::shared_ptr<Answer> answer = LeaseAsync(Request("w-1", "", 60));
  ledger_->Stop();
  queue_->Stop();
  ASSERT_TRUE(answer->done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(answer->result.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace vmle::agent::testing
