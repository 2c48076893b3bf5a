// The study ledger through its header, on a real memory service: a study is held only
// once stored, commits apply only what was stored, unfinished studies are reloaded
// with their queue and leases, write slots order one study's changes and not another's,
// and a write whose outcome is unknown makes the study re-read before its next change.
#include "services/agent/study/study_ledger.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "tests/agent/core_parts.h"

namespace vmle::agent::testing {
namespace {

using internal::StudyEntry;
using vmle::v1::StudyEvent;
using vmle::v1::Trial;

class StudyLedgerTest : public ::testing::Test {
 protected:
  CoreParts parts_;
};

TEST_F(StudyLedgerTest, ServesOnlyOnceReloadedAndUntilStopped) {
  WatchHub hub;
  StudyLedger::Options options;
  options.memory = &parts_.client();
  options.watch_hub = &hub;
  StudyLedger ledger(options);
  {
    absl::MutexLock lock(&ledger.mu());
    EXPECT_THAT(ledger.CheckServingLocked(), StatusIs(absl::StatusCode::kUnavailable, "loading"));
  }
  absl::StatusOr<int> held = ledger.ReloadUnfinished();
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(*held, 0);
  {
    absl::MutexLock lock(&ledger.mu());
    EXPECT_TRUE(ledger.CheckServingLocked().ok());
  }
  ledger.Stop();
  absl::MutexLock lock(&ledger.mu());
  EXPECT_THAT(ledger.CheckServingLocked(), StatusIs(absl::StatusCode::kUnavailable, "shutting down"));
  EXPECT_TRUE(ledger.StoppingLocked());
}

TEST_F(StudyLedgerTest, CreateStoresTheStudyBeforeHoldingIt) {
  WatchHub hub;
  auto ledger = parts_.NewLedger(hub);
  StudyEntry* entry = CoreParts::Create(*ledger, NewStudy("st-a"));
  ASSERT_NE(entry, nullptr);
  absl::StatusOr<vmle::v1::Study> stored = parts_.client().GetStudy("st-a");
  ASSERT_TRUE(stored.ok()) << stored.status();
  {
    absl::MutexLock lock(&ledger->mu());
    EXPECT_EQ(ledger->FindLocked("st-a"), entry);
    EXPECT_EQ(entry->study.version(), stored->version());
    EXPECT_GT(stored->version(), 0);
    EXPECT_FALSE(entry->writing);
    // One id, one study.
    absl::StatusOr<std::unique_ptr<StudyEntry>> again = ledger->NewEntry(NewStudy("st-a"));
    ASSERT_TRUE(again.ok());
    EXPECT_THAT(ledger->CreateLocked(*std::move(again), {}).status(),
                StatusIs(absl::StatusCode::kAlreadyExists, "st-a"));
  }
  EXPECT_EQ(hub.LastSequence("st-a"), 1);
}

TEST_F(StudyLedgerTest, CommitWritesThenAppliesAndPublishes) {
  WatchHub hub;
  auto ledger = parts_.NewLedger(hub);
  StudyEntry* entry = CoreParts::Create(*ledger, NewStudy("st-b"));
  ASSERT_NE(entry, nullptr);
  const int released_before = parts_.released();
  ASSERT_TRUE(CoreParts::Commit(*ledger, *entry,
                     {NewTrial("st-b", 1, vmle::v1::TRIAL_STATUS_QUEUED),
                      NewTrial("st-b", 2, vmle::v1::TRIAL_STATUS_QUEUED)})
                  .ok());
  EXPECT_EQ(parts_.released(), released_before + 1);
  absl::StatusOr<std::vector<Trial>> stored = parts_.client().ListTrials("st-b");
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->size(), 2u);
  absl::StatusOr<std::vector<StudyEvent>> events = parts_.client().ListEvents("st-b", 0);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 3u);
  for (size_t i = 0; i < events->size(); ++i) {
    EXPECT_EQ((*events)[i].sequence(), static_cast<int64_t>(i) + 1);
    EXPECT_EQ((*events)[i].study_state(), vmle::v1::STUDY_STATE_RUNNING);
  }
  EXPECT_EQ(hub.LastSequence("st-b"), 3);
  absl::MutexLock lock(&ledger->mu());
  EXPECT_EQ(entry->trials.size(), 2u);
  EXPECT_EQ(entry->next_sequence, 4);
  // Counters are recounted with the trials.
  EXPECT_EQ(entry->study.trials_total(), 2);
  EXPECT_EQ(entry->study.version(), parts_.client().GetStudy("st-b")->version());
  absl::StatusOr<StudyEntry*> of_trial = ledger->StudyOfTrialLocked("st-b-t2");
  ASSERT_TRUE(of_trial.ok());
  EXPECT_EQ(*of_trial, entry);
}

TEST_F(StudyLedgerTest, ACommitOfSeveralFinishedTrialsRanksThemAll) {
  WatchHub hub;
  auto ledger = parts_.NewLedger(hub);
  StudyEntry* entry = CoreParts::Create(*ledger, NewStudy("st-r"));
  ASSERT_NE(entry, nullptr);
  // Three configurations finished in one write; the best is the first of the batch.
  std::vector<Trial> finished;
  for (int n = 1; n <= 3; ++n) {
    Trial t = NewTrial("st-r", n, vmle::v1::TRIAL_STATUS_SUCCEEDED);
    t.set_attempts(1);
    (*t.mutable_config()->mutable_values())["lr"].set_float_value(1e-4 * n);
    t.set_objective_value(n == 1 ? 0.06 : 0.05 - 0.01 * n);
    finished.push_back(t);
  }
  ASSERT_TRUE(CoreParts::Commit(*ledger, *entry, finished).ok());
  absl::MutexLock lock(&ledger->mu());
  EXPECT_EQ(entry->study.trials_succeeded(), 3);
  EXPECT_TRUE(entry->study.has_best());
  EXPECT_EQ(entry->study.best_trial_id(), "st-r-t1");
  EXPECT_DOUBLE_EQ(entry->study.best_value(), 0.06);
}

TEST_F(StudyLedgerTest, ReloadHoldsUnfinishedStudiesWithTheirQueueAndLeases) {
  {
    WatchHub hub;
    auto ledger = parts_.NewLedger(hub);
    StudyEntry* entry = CoreParts::Create(*ledger, NewStudy("st-c"));
    ASSERT_NE(entry, nullptr);
    ASSERT_TRUE(CoreParts::Commit(*ledger, *entry,
                       {NewTrial("st-c", 1, vmle::v1::TRIAL_STATUS_RUNNING),
                        NewTrial("st-c", 2, vmle::v1::TRIAL_STATUS_QUEUED),
                        NewTrial("st-c", 3, vmle::v1::TRIAL_STATUS_QUEUED)})
                    .ok());
    StudyEntry* done = CoreParts::Create(*ledger, NewStudy("st-done"));
    ASSERT_NE(done, nullptr);
    absl::MutexLock lock(&ledger->mu());
    StudyLedger::WriteSlot slot(*ledger, *done);
    ASSERT_TRUE(slot.Acquire(absl::ZeroDuration()).ok());
    vmle::v1::Study finished = done->study;
    finished.set_state(vmle::v1::STUDY_STATE_SUCCEEDED);
    ASSERT_TRUE(ledger->CommitLocked(*done, finished, nullptr, {}).ok());
  }
  for (const bool survive : {true, false}) {
    SCOPED_TRACE(survive ? "workers survive" : "workers died with the agent");
    WatchHub hub;
    const absl::Time before = absl::Now();
    auto ledger = parts_.NewLedger(hub, true, survive);
    absl::MutexLock lock(&ledger->mu());
    ASSERT_EQ(ledger->StudiesLocked().size(), 1u);
    StudyEntry* entry = ledger->FindLocked("st-c");
    ASSERT_NE(entry, nullptr);
    EXPECT_EQ(std::vector<int>(entry->queue.begin(), entry->queue.end()), (std::vector<int>{2, 3}));
    const absl::Time deadline = entry->trials.at(1).lease_deadline;
    if (survive) {
      EXPECT_GE(deadline, before + absl::Seconds(29));
    } else {
      EXPECT_LE(deadline, absl::Now());
    }
    EXPECT_EQ(entry->next_sequence, 5);
    EXPECT_EQ(hub.LastSequence("st-c"), 4);
    // A finished study is not reloaded, but read on first use.
    EXPECT_EQ(ledger->FindLocked("st-done"), nullptr);
    absl::StatusOr<StudyEntry*> done = ledger->FindOrLoadLocked("st-done");
    ASSERT_TRUE(done.ok()) << done.status();
    EXPECT_EQ((*done)->study.state(), vmle::v1::STUDY_STATE_SUCCEEDED);
    EXPECT_EQ(ledger->FindLocked("st-done"), *done);
  }
}

// A study stored before values were typed kept a fixed setting outside the search
// space as its author's text, in its spec and in its trials: reloaded, both are typed,
// so the worker reads them.
TEST_F(StudyLedgerTest, FixedTextStoredBeforeValuesWereTypedIsReloadedTyped) {
  {
    WatchHub hub;
    auto ledger = parts_.NewLedger(hub);
    vmle::v1::Study study = NewStudy("st-old");
    auto& fixed = *study.mutable_spec()->mutable_fixed()->mutable_values();
    fixed["grad_clip"].set_categorical_value("1.5");
    fixed["batching"].set_categorical_value("random");
    StudyEntry* entry = CoreParts::Create(*ledger, study);
    ASSERT_NE(entry, nullptr);
    Trial queued = NewTrial("st-old", 1, vmle::v1::TRIAL_STATUS_QUEUED);
    (*queued.mutable_config()->mutable_values())["grad_clip"].set_categorical_value("1.5");
    (*queued.mutable_config()->mutable_values())["hidden_dim"].set_int_value(64);
    ASSERT_TRUE(CoreParts::Commit(*ledger, *entry, {queued}).ok());
  }
  WatchHub hub;
  auto ledger = parts_.NewLedger(hub);
  absl::MutexLock lock(&ledger->mu());
  StudyEntry* entry = ledger->FindLocked("st-old");
  ASSERT_NE(entry, nullptr);
  const auto& fixed = entry->study.spec().fixed().values();
  EXPECT_EQ(fixed.at("grad_clip").kind_case(), vmle::v1::ParamValue::kFloatValue);
  EXPECT_EQ(fixed.at("grad_clip").float_value(), 1.5);
  EXPECT_EQ(fixed.at("batching").categorical_value(), "random");
  const auto& config = entry->trials.at(1).trial.config().values();
  EXPECT_EQ(config.at("grad_clip").float_value(), 1.5);
  EXPECT_EQ(config.at("hidden_dim").int_value(), 64);
}

TEST_F(StudyLedgerTest, LookupsNameTheFieldAndBoundTheId) {
  WatchHub hub;
  auto ledger = parts_.NewLedger(hub);
  absl::MutexLock lock(&ledger->mu());
  EXPECT_THAT(ledger->FindOrLoadLocked("").status(), StatusIs(absl::StatusCode::kInvalidArgument, "study_id"));
  EXPECT_THAT(ledger->FindOrLoadLocked("st-none").status(), StatusIs(absl::StatusCode::kNotFound, "st-none"));
  const std::string huge(100000, 'x');
  // Refused by the memory service or not found; either way the id is not echoed whole.
  absl::Status refused = ledger->FindOrLoadLocked(huge).status();
  EXPECT_FALSE(refused.ok());
  EXPECT_LT(refused.message().size(), 400u);
  absl::Status no_trial = ledger->StudyOfTrialLocked(huge).status();
  EXPECT_EQ(no_trial.code(), absl::StatusCode::kNotFound);
  EXPECT_LT(no_trial.message().size(), 400u);
}

TEST_F(StudyLedgerTest, WriteSlotsOrderOneStudyAndNotAnother) {
  WatchHub hub;
  auto ledger = parts_.NewLedger(hub);
  StudyEntry* a = CoreParts::Create(*ledger, NewStudy("st-d"));
  StudyEntry* b = CoreParts::Create(*ledger, NewStudy("st-e"));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  absl::Notification acquired;
  std::atomic<bool> second_holds{false};
  std::thread waiter;
  {
    absl::MutexLock lock(&ledger->mu());
    StudyLedger::WriteSlot slot(*ledger, *a);
    ASSERT_TRUE(slot.Acquire(absl::ZeroDuration()).ok());
    EXPECT_TRUE(a->writing);
    // Another change of the same study cannot start now ...
    StudyLedger::WriteSlot busy(*ledger, *a);
    EXPECT_THAT(busy.Acquire(absl::ZeroDuration()), StatusIs(absl::StatusCode::kUnavailable, "st-d"));
    // ... another study's can.
    StudyLedger::WriteSlot other(*ledger, *b);
    EXPECT_TRUE(other.Acquire(absl::ZeroDuration()).ok());
    // A change that waits gets the slot once this one is done.
    waiter = std::thread([&] {
      absl::MutexLock lock(&ledger->mu());
      StudyLedger::WriteSlot next(*ledger, *a);
      acquired.Notify();
      EXPECT_TRUE(next.Acquire(absl::Seconds(30)).ok());
      second_holds = true;
    });
    ledger->mu().Unlock();
    acquired.WaitForNotification();
    absl::SleepFor(absl::Milliseconds(50));
    ledger->mu().Lock();
    EXPECT_FALSE(second_holds);
  }
  waiter.join();
  EXPECT_TRUE(second_holds);
  absl::MutexLock lock(&ledger->mu());
  EXPECT_FALSE(a->writing);
}

TEST_F(StudyLedgerTest, AWriteThatLostARaceIsReadBackBeforeTheNextChange) {
  WatchHub hub;
  auto ledger = parts_.NewLedger(hub);
  StudyEntry* entry = CoreParts::Create(*ledger, NewStudy("st-f"));
  ASSERT_NE(entry, nullptr);
  // The stored study moves on behind the ledger's back (as when a write's first try
  // landed but its answer was lost): a trial queued, an event appended.
  vmle::v1::Study stored = *parts_.client().GetStudy("st-f");
  const Trial behind = NewTrial("st-f", 1, vmle::v1::TRIAL_STATUS_QUEUED);
  StudyEvent queued;
  queued.set_study_id("st-f");
  queued.set_sequence(2);
  queued.set_type(StudyEvent::TYPE_TRIAL_QUEUED);
  queued.set_trial_id(behind.id());
  ASSERT_TRUE(parts_.client().Commit(&behind, stored, {queued}, stored.version()).ok());
  const int64_t version_before = [&] {
    absl::MutexLock lock(&ledger->mu());
    return entry->study.version();
  }();
  // The ledger's next write expects the old version: refused, nothing applied.
  absl::Status lost = CoreParts::Commit(*ledger, *entry, {NewTrial("st-f", 9, vmle::v1::TRIAL_STATUS_QUEUED)});
  EXPECT_THAT(lost, StatusIs(absl::StatusCode::kUnavailable, "retry"));
  {
    absl::MutexLock lock(&ledger->mu());
    EXPECT_TRUE(entry->stale);
    EXPECT_EQ(entry->study.version(), version_before);
    EXPECT_EQ(entry->trials.count(9), 0u);
  }
  // The next slot re-reads the stored study first: the trial written meanwhile is held
  // and queued, the event published, and the change then lands.
  ASSERT_TRUE(CoreParts::Commit(*ledger, *entry, {NewTrial("st-f", 2, vmle::v1::TRIAL_STATUS_QUEUED)}).ok());
  absl::MutexLock lock(&ledger->mu());
  EXPECT_FALSE(entry->stale);
  EXPECT_EQ(entry->trials.count(1), 1u);
  EXPECT_EQ(std::vector<int>(entry->queue.begin(), entry->queue.end()), (std::vector<int>{1, 2}));
  EXPECT_EQ(entry->next_sequence, 4);
  EXPECT_EQ(hub.LastSequence("st-f"), 3);
  EXPECT_EQ(parts_.client().ListTrials("st-f")->size(), 2u);
}

TEST_F(StudyLedgerTest, NothingIsAppliedWhileTheMemoryServiceIsDown) {
  WatchHub hub;
  auto ledger = parts_.NewLedger(hub);
  StudyEntry* entry = CoreParts::Create(*ledger, NewStudy("st-g"));
  ASSERT_NE(entry, nullptr);
  parts_.cluster().StopMemory();
  absl::Status s = CoreParts::Commit(*ledger, *entry, {NewTrial("st-g", 1, vmle::v1::TRIAL_STATUS_QUEUED)});
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable, "did not store"));
  absl::MutexLock lock(&ledger->mu());
  EXPECT_TRUE(entry->trials.empty());
  EXPECT_EQ(entry->next_sequence, 2);
  EXPECT_EQ(hub.LastSequence("st-g"), 1);
  EXPECT_TRUE(entry->stale);
  EXPECT_FALSE(entry->writing);
}

}  // namespace
}  // namespace vmle::agent::testing
