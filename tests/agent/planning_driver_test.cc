// The planning driver through its header, on a real memory service with the ledger:
// it reloads the unfinished studies, queues a round's proposals up to the study's
// parallelism in one write (handing the first to waiting calls by that write),
// finishes a study whose budget is used, and fails a study whose planner fails or
// proposes an invalid configuration, naming why.
#include "services/agent/study/planning_driver.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "tests/agent/core_parts.h"

namespace vmle::agent::testing {
namespace {

using internal::StudyEntry;
using vmle::v1::Trial;

// A planner whose proposals come from a function.
class ScriptedPlanner : public Planner {
 public:
  explicit ScriptedPlanner(std::function<absl::StatusOr<std::vector<PlannedTrial>>(const PlanningContext&)> propose)
      : propose_(std::move(propose)) {}
  std::string Name() const override { return "scripted"; }
  absl::StatusOr<std::vector<PlannedTrial>> Propose(const PlanningContext& context) override {
    return propose_(context);
  }

 private:
  std::function<absl::StatusOr<std::vector<PlannedTrial>>(const PlanningContext&)> propose_;
};

// A TrialHandoff with one waiting call for the first round: leases its first trial to
// worker w-h, then records the write's outcome; the driver answers the call.
class OneWaitingCall : public TrialHandoff {
 public:
  LeaseLine::Taken AssignLocked(StudyEntry& entry, std::vector<Trial>& trials,
                                std::vector<vmle::v1::StudyEvent>& events) override {
    LeaseLine::Taken calls;
    if (assigned_ || trials.empty()) return calls;
    assigned_ = true;
    trials[0].set_status(vmle::v1::TRIAL_STATUS_RUNNING);
    trials[0].set_attempts(1);
    trials[0].set_worker_id("w-h");
    trials[0].set_lease_id("ls-h");
    events.push_back(
        StudyLedger::MakeEvent(entry, vmle::v1::StudyEvent::TYPE_TRIAL_STARTED, trials[0].id(), "started"));
    auto call = std::make_unique<LeaseLine::Waiter>();
    call->ticket = 1;
    call->done = [this](absl::StatusOr<vmle::v1::LeaseTrialResponse> r) {
      answer_ = r.ok() ? r->assignment().trial_id() : std::string(r.status().message());
      ++answered_;
    };
    calls.push_back(std::move(call));
    return calls;
  }
  void SettleLocked(StudyEntry&, absl::Span<const Trial> trials, const absl::Status& written,
                    LeaseLine::Taken& calls) override {
    settled_ = written;
    for (auto& call : calls) {
      if (written.ok()) call->result->mutable_assignment()->set_trial_id(trials[0].id());
      else call->result = written;
    }
  }

  std::atomic<int> answered_{0};
  std::string answer_;
  absl::Status settled_ = absl::UnknownError("not settled");

 private:
  bool assigned_ = false;
};

// Planners made by the factory, each called through `propose(study id, the factory's
// planner, context)`.
PlannerMaker AroundTheFactorysPlanner(
    std::function<absl::StatusOr<std::vector<PlannedTrial>>(const std::string&, Planner&, const PlanningContext&)>
        propose) {
  return [propose](const vmle::v1::PlannerSpec& spec,
                   const std::string& id) -> absl::StatusOr<std::unique_ptr<Planner>> {
    PlannerEnvironment environment;
    environment.study_id = id;
    absl::StatusOr<std::unique_ptr<Planner>> made = MakePlanner(spec, environment);
    if (!made.ok()) return made.status();
    return std::make_unique<ScriptedPlanner>(
        [propose, id, inner = std::shared_ptr<Planner>(*std::move(made))](const PlanningContext& context) {
          return propose(id, *inner, context);
        });
  };
}

class PlanningDriverTest : public ::testing::Test {
 protected:
  ~PlanningDriverTest() override {
    if (!gate_.HasBeenNotified()) gate_.Notify();
    if (ledger_ != nullptr) ledger_->Stop();
    if (driver_ != nullptr) driver_->Stop();
  }

  // A ledger not yet reloaded (the driver does it), its ending, and a driver (with
  // `handoff`, when given).
  void Assemble(PlannerMaker make_planner = {}, TrialHandoff* handoff = nullptr) {
    ledger_ = parts_.NewLedger(hub_, /*reload=*/false, true, std::move(make_planner));
    ending_ = std::make_unique<StudyEnding>(*ledger_, parts_.metrics(),
                                            [this](const StudyEntry& entry) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                              driver_->NewWorkLocked(entry.study.id());
                                            });
    driver_ = std::make_unique<PlanningDriver>(PlanningDriver::Options{.planning_threads = 2, .recall_k = 3},
                                               *ledger_, *ending_, parts_.client(), parts_.metrics(),
                                               [this](const StudyEntry&) { ++queued_; }, handoff);
  }

  // Waits until `done` holds for the study (with the ledger's lock held).
  bool WaitFor(StudyEntry& entry, const std::function<bool(const StudyEntry&)>& done) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (absl::Now() < deadline) {
      {
        absl::MutexLock lock(&ledger_->mu());
        if (done(entry)) return true;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

  // Stores every queued trial of the study as succeeded, then tells the driver.
  void CompleteQueued(StudyEntry& entry) {
    std::vector<Trial> done;
    {
      absl::MutexLock lock(&ledger_->mu());
      for (int number : entry.queue) {
        Trial t = entry.trials.at(number).trial;
        t.set_status(vmle::v1::TRIAL_STATUS_SUCCEEDED);
        t.set_attempts(1);
        t.mutable_validation()->set_ndcg_at_10(0.01 * number);
        t.set_objective_value(0.01 * number);
        *t.mutable_finished_at() = internal::ToTimestamp(absl::Now());
        done.push_back(t);
      }
      entry.queue.clear();
    }
    ASSERT_TRUE(CoreParts::Commit(*ledger_, entry, done).ok());
    absl::MutexLock lock(&ledger_->mu());
    driver_->NewWorkLocked(entry.study.id());
  }

  // Before driver_: the destructor stops the driver before either goes.
  OneWaitingCall handoff_;
  // Opened by a test whose planner waits for it (and by the destructor).
  absl::Notification gate_;
  CoreParts parts_;
  WatchHub hub_;
  std::unique_ptr<StudyLedger> ledger_;
  std::unique_ptr<StudyEnding> ending_;
  std::unique_ptr<PlanningDriver> driver_;
  std::atomic<int> queued_{0};
};

TEST_F(PlanningDriverTest, ReloadsThenQueuesUpToTheParallelismInOneWrite) {
  Assemble();
  StudyEntry* entry = CoreParts::Create(*ledger_, NewStudy("st-q", "random", 5, 2));
  ASSERT_NE(entry, nullptr);
  {
    absl::MutexLock lock(&ledger_->mu());
    EXPECT_FALSE(ledger_->CheckServingLocked().ok());
  }
  driver_->Start();
  ASSERT_TRUE(WaitFor(*entry, [](const StudyEntry& e) { return e.queue.size() == 2; }));
  absl::SleepFor(absl::Milliseconds(200));
  absl::MutexLock lock(&ledger_->mu());
  EXPECT_TRUE(ledger_->CheckServingLocked().ok());
  // Never more than the parallelism, both stored by one write, then announced.
  EXPECT_EQ(entry->trials.size(), 2u);
  EXPECT_EQ(entry->study.version(), 2);
  EXPECT_GE(queued_, 1);
  for (const auto& [number, state] : entry->trials) {
    EXPECT_EQ(state.trial.status(), vmle::v1::TRIAL_STATUS_QUEUED);
    EXPECT_EQ(state.trial.proposal().planner(), "random");
    EXPECT_GT(state.trial.config().values_size(), 0);
  }
  EXPECT_NE(entry->trials.at(1).trial.seed(), entry->trials.at(2).trial.seed());
}

TEST_F(PlanningDriverTest, ARoundsFirstTrialGoesToTheWaitingCallByTheSameWrite) {
  Assemble({}, &handoff_);
  StudyEntry* entry = CoreParts::Create(*ledger_, NewStudy("st-h", "random", 5, 3));
  ASSERT_NE(entry, nullptr);
  driver_->Start();
  ASSERT_TRUE(WaitFor(*entry, [](const StudyEntry& e) { return e.trials.size() == 3; }));
  ASSERT_TRUE(WaitFor(*entry, [&](const StudyEntry&) { return handoff_.answered_ == 1; }));
  ledger_->Stop();
  driver_->Stop();
  EXPECT_EQ(handoff_.answered_, 1);
  absl::MutexLock lock(&ledger_->mu());
  EXPECT_TRUE(handoff_.settled_.ok()) << handoff_.settled_;
  EXPECT_EQ(handoff_.answer_, "st-h-t1");
  // One write: the round, with its first trial leased.
  EXPECT_EQ(entry->study.version(), 2);
  EXPECT_EQ(entry->trials.at(1).trial.status(), vmle::v1::TRIAL_STATUS_RUNNING);
  EXPECT_EQ(entry->trials.at(1).trial.worker_id(), "w-h");
  EXPECT_EQ(entry->running(), 1);
  // Only the others wait in the queue.
  EXPECT_EQ(std::vector<int>(entry->queue.begin(), entry->queue.end()), (std::vector<int>{2, 3}));
  absl::StatusOr<std::vector<Trial>> stored = parts_.client().ListTrials("st-h");
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 3u);
  EXPECT_EQ((*stored)[0].status(), vmle::v1::TRIAL_STATUS_RUNNING);
  EXPECT_EQ((*stored)[1].status(), vmle::v1::TRIAL_STATUS_QUEUED);
}

TEST_F(PlanningDriverTest, WhenTheRoundsWriteFailsTheWaitingCallGetsTheErrorAndNothingIsQueued) {
  // The first round proposes only once the memory service has gone: its write fails.
  Assemble(AroundTheFactorysPlanner([this](const std::string&, Planner& inner, const PlanningContext& context) {
             gate_.WaitForNotification();
             return inner.Propose(context);
           }),
           &handoff_);
  StudyEntry* entry = CoreParts::Create(*ledger_, NewStudy("st-hf", "random", 5, 3));
  ASSERT_NE(entry, nullptr);
  driver_->Start();
  ASSERT_TRUE(WaitFor(*entry, [&](const StudyEntry&) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return ledger_->CheckServingLocked().ok();
  }));
  parts_.cluster().StopMemory();
  gate_.Notify();
  ASSERT_TRUE(WaitFor(*entry, [&](const StudyEntry&) { return handoff_.answered_ >= 1; }));
  ledger_->Stop();
  driver_->Stop();
  EXPECT_EQ(handoff_.answered_, 1);
  EXPECT_FALSE(handoff_.settled_.ok());
  EXPECT_NE(handoff_.answer_, "st-hf-t1");
  absl::MutexLock lock(&ledger_->mu());
  EXPECT_TRUE(entry->queue.empty());
  EXPECT_TRUE(entry->trials.empty());
}

TEST_F(PlanningDriverTest, AnEventStepsOnlyTheStudyItHappenedTo) {
  // Each study's planner proposes one trial, then nothing: the study keeps room, so
  // every step of it calls its planner once, which counts the steps.
  std::map<std::string, std::shared_ptr<std::atomic<int>>> steps;
  for (const char* id : {"st-a", "st-b"}) steps[id] = std::make_shared<std::atomic<int>>(0);
  Assemble(AroundTheFactorysPlanner(
      [&steps](const std::string& id, Planner& inner,
               const PlanningContext& context) -> absl::StatusOr<std::vector<PlannedTrial>> {
        if (steps.at(id)->fetch_add(1) > 0) return std::vector<PlannedTrial>{};
        absl::StatusOr<std::vector<PlannedTrial>> first = inner.Propose(context);
        if (first.ok() && first->size() > 1) first->resize(1);
        return first;
      }));
  StudyEntry* a = CoreParts::Create(*ledger_, NewStudy("st-a", "random", 5, 3));
  StudyEntry* b = CoreParts::Create(*ledger_, NewStudy("st-b", "random", 5, 3));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  driver_->Start();
  ASSERT_TRUE(WaitFor(*a, [](const StudyEntry& e) { return e.queue.size() == 1; }));
  ASSERT_TRUE(WaitFor(*b, [](const StudyEntry& e) { return e.queue.size() == 1; }));
  const int a_before = *steps["st-a"];
  const int b_before = *steps["st-b"];
  // Twenty events of study a, less than a second apart.
  for (int i = 0; i < 20; ++i) {
    {
      absl::MutexLock lock(&ledger_->mu());
      driver_->NewWorkLocked("st-a");
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(WaitFor(*a, [&](const StudyEntry&) { return *steps["st-a"] >= a_before + 5; }));
  // Study b is stepped at most by the once-a-second look at every study, which these
  // events keep from coming (one may have begun before them).
  EXPECT_LE(*steps["st-b"], b_before + 1);
}

TEST_F(PlanningDriverTest, FinishesAStudyOnceItsBudgetIsUsed) {
  Assemble();
  StudyEntry* entry = CoreParts::Create(*ledger_, NewStudy("st-f", "random", 3, 2));
  ASSERT_NE(entry, nullptr);
  driver_->Start();
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(WaitFor(*entry, [](const StudyEntry& e) { return !e.queue.empty(); }));
    CompleteQueued(*entry);
  }
  ASSERT_TRUE(WaitFor(*entry, [](const StudyEntry& e) { return !e.Active(); }));
  absl::MutexLock lock(&ledger_->mu());
  EXPECT_EQ(entry->trials.size(), 3u);
  EXPECT_EQ(entry->study.state(), vmle::v1::STUDY_STATE_SUCCEEDED);
  EXPECT_EQ(entry->study.end_reason(), "budget of 3 trials used");
  EXPECT_EQ(entry->study.best_trial_id(), "st-f-t3");
}

TEST_F(PlanningDriverTest, APlannerThatFailsFailsTheStudyNamingIt) {
  Assemble([](const vmle::v1::PlannerSpec&, const std::string&) -> absl::StatusOr<std::unique_ptr<Planner>> {
    return std::make_unique<ScriptedPlanner>(
        [](const PlanningContext&) { return absl::InternalError("out of ideas"); });
  });
  StudyEntry* entry = CoreParts::Create(*ledger_, NewStudy("st-x"));
  ASSERT_NE(entry, nullptr);
  driver_->Start();
  ASSERT_TRUE(WaitFor(*entry, [](const StudyEntry& e) { return !e.Active(); }));
  absl::MutexLock lock(&ledger_->mu());
  EXPECT_EQ(entry->study.state(), vmle::v1::STUDY_STATE_FAILED);
  EXPECT_EQ(entry->study.error(), "planner scripted failed: out of ideas");
  EXPECT_TRUE(entry->trials.empty());
}

TEST_F(PlanningDriverTest, AnInvalidProposalFailsTheStudyNamingTheParameter) {
  Assemble([](const vmle::v1::PlannerSpec&, const std::string&) -> absl::StatusOr<std::unique_ptr<Planner>> {
    return std::make_unique<ScriptedPlanner>([](const PlanningContext&) {
      PlannedTrial bad;
      (*bad.config.mutable_values())["lr"].set_float_value(5.0);
      return std::vector<PlannedTrial>{bad};
    });
  });
  StudyEntry* entry = CoreParts::Create(*ledger_, NewStudy("st-i"));
  ASSERT_NE(entry, nullptr);
  driver_->Start();
  ASSERT_TRUE(WaitFor(*entry, [](const StudyEntry& e) { return !e.Active(); }));
  absl::MutexLock lock(&ledger_->mu());
  EXPECT_EQ(entry->study.state(), vmle::v1::STUDY_STATE_FAILED);
  EXPECT_NE(entry->study.error().find("planner scripted proposed an invalid configuration"), std::string::npos)
      << entry->study.error();
  EXPECT_NE(entry->study.error().find("lr"), std::string::npos) << entry->study.error();
  // Nothing of the refused round was stored.
  EXPECT_TRUE(entry->trials.empty());
}

}  // namespace
}  // namespace vmle::agent::testing
