// MemoryStore on a real RocksDB in a temporary directory: studies, the trial log,
// atomic trial results and study events.
#include "services/memory/store/memory_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/memory/memory_test_util.h"

namespace vmle::memory::testing {
namespace {

using absl::StatusCode;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<int> Numbers(const v1::ListTrialRecordsResponse& response) {
  std::vector<int> numbers;
  for (const v1::Trial& t : response.trials()) numbers.push_back(t.number());
  return numbers;
}

std::vector<int64_t> Sequences(const v1::ListEventsResponse& response) {
  std::vector<int64_t> sequences;
  for (const v1::StudyEvent& e : response.events()) sequences.push_back(e.sequence());
  return sequences;
}

using StudyTest = StoreTest;

TEST_F(StudyTest, PutAssignsIncreasingVersionsAndGetReturnsTheStudy) {
  v1::Study study = MakeStudy("st-1");
  study.set_version(42);  // ignored: the store owns the version
  EXPECT_EQ(PutStudy(study), 1);
  study.set_state(v1::STUDY_STATE_SUCCEEDED);
  EXPECT_EQ(PutStudy(study), 2);
  ASSERT_OK_AND_ASSIGN(v1::Study stored, GetStudy("st-1"));
  study.set_version(2);
  EXPECT_EQ(DeterministicBytes(stored), DeterministicBytes(study));
}

TEST_F(StudyTest, ExpectedVersionMismatchIsAbortedAndLeavesTheStudy) {
  v1::PutStudyRequest request;
  *request.mutable_study() = MakeStudy("st-1");
  ASSERT_EQ(PutStudy(request.study()), 1);
  request.set_expected_version(1);
  ASSERT_OK_AND_ASSIGN(v1::PutStudyResponse ok, store_->PutStudy(request));
  EXPECT_EQ(ok.version(), 2);

  request.mutable_study()->set_error("a stale writer");
  EXPECT_THAT(store_->PutStudy(request),
              StatusIs(StatusCode::kAborted, "is at version 2, not the expected 1"));
  ASSERT_OK_AND_ASSIGN(v1::Study stored, GetStudy("st-1"));
  EXPECT_EQ(stored.version(), 2);
  EXPECT_EQ(stored.error(), "");

  request.mutable_study()->set_id("st-new");
  EXPECT_THAT(store_->PutStudy(request), StatusIs(StatusCode::kNotFound, "study 'st-new'"));
  request.set_expected_version(-1);
  EXPECT_THAT(store_->PutStudy(request),
              StatusIs(StatusCode::kInvalidArgument, "expected_version: must be >= 0"));
}

TEST_F(StudyTest, UnknownAndMalformedIds) {
  EXPECT_THAT(GetStudy("st-none"), StatusIs(StatusCode::kNotFound, "study 'st-none' not found"));
  EXPECT_THAT(GetStudy(""), StatusIs(StatusCode::kInvalidArgument, "study_id: must be non-empty"));

  v1::PutStudyRequest request;
  EXPECT_THAT(store_->PutStudy(request),
              StatusIs(StatusCode::kInvalidArgument, "study: must be set"));
  *request.mutable_study() = MakeStudy("");
  EXPECT_THAT(store_->PutStudy(request),
              StatusIs(StatusCode::kInvalidArgument, "study.id: must be non-empty"));
  request.mutable_study()->set_id(std::string("st\0x", 4));
  EXPECT_THAT(store_->PutStudy(request),
              StatusIs(StatusCode::kInvalidArgument, "has a character outside [A-Za-z0-9._:-]"));
  request.mutable_study()->set_id(std::string(129, 'a'));
  EXPECT_THAT(store_->PutStudy(request),
              StatusIs(StatusCode::kInvalidArgument, "study.id: 129 bytes exceed the limit"));
}

TEST_F(StudyTest, OversizedRecordNamesItsLargestField) {
  options_.max_record_bytes = 64 << 10;
  Reopen();
  v1::Study study = MakeStudy("st-1");
  study.set_end_reason(std::string(70 << 10, 'x'));
  v1::PutStudyRequest request;
  *request.mutable_study() = study;
  EXPECT_THAT(store_->PutStudy(request),
              StatusIs(StatusCode::kInvalidArgument, "study.end_reason: the record is"));
  EXPECT_THAT(GetStudy("st-1"), StatusIs(StatusCode::kNotFound, ""));
}

TEST_F(StudyTest, ListStudiesPagesInIdOrderAndFiltersByState) {
  for (const char* id : {"st-c", "st-a", "st-e", "st-b", "st-d"}) {
    v1::Study s = MakeStudy(id);
    if (std::string(id) == "st-b" || std::string(id) == "st-d") {
      s.set_state(v1::STUDY_STATE_SUCCEEDED);
    }
    PutStudy(s);
  }
  v1::ListStudyRecordsRequest request;
  request.set_page_size(2);
  std::vector<std::string> ids;
  std::vector<std::string> tokens;
  for (int page = 0; page < 10; ++page) {
    ASSERT_OK_AND_ASSIGN(v1::ListStudyRecordsResponse response, store_->ListStudies(request));
    for (const v1::Study& s : response.studies()) ids.push_back(s.id());
    if (response.next_page_token().empty()) break;
    tokens.push_back(response.next_page_token());
    request.set_page_token(response.next_page_token());
  }
  EXPECT_THAT(ids, ElementsAre("st-a", "st-b", "st-c", "st-d", "st-e"));
  EXPECT_EQ(tokens.size(), 2u);  // pages of 2, 2 and 1: no empty last page

  v1::ListStudyRecordsRequest running;
  running.add_states(v1::STUDY_STATE_RUNNING);
  ASSERT_OK_AND_ASSIGN(v1::ListStudyRecordsResponse filtered, store_->ListStudies(running));
  ids.clear();
  for (const v1::Study& s : filtered.studies()) ids.push_back(s.id());
  EXPECT_THAT(ids, ElementsAre("st-a", "st-c", "st-e"));

  request.set_page_token("bad token");
  EXPECT_THAT(store_->ListStudies(request), StatusIs(StatusCode::kInvalidArgument, "page_token"));
  request.set_page_token("");
  request.set_page_size(-1);
  EXPECT_THAT(store_->ListStudies(request), StatusIs(StatusCode::kInvalidArgument, "page_size"));
}

using TrialTest = StoreTest;

TEST_F(TrialTest, PutGetRoundTripsAndNeedsTheStudy) {
  const v1::Trial trial = MakeTrial("st-1", 1);
  EXPECT_THAT(PutTrial(trial), StatusIs(StatusCode::kNotFound, "study 'st-1' not found"));
  PutStudy(MakeStudy("st-1"));
  ASSERT_THAT(PutTrial(trial), IsOk());
  ASSERT_OK_AND_ASSIGN(v1::Trial stored, GetTrial("st-1", "t-1"));
  EXPECT_EQ(DeterministicBytes(stored), DeterministicBytes(trial));

  EXPECT_THAT(GetTrial("st-1", "t-9"),
              StatusIs(StatusCode::kNotFound, "trial 't-9' of study 'st-1' not found"));
  EXPECT_THAT(GetTrial("st-2", "t-1"), StatusIs(StatusCode::kNotFound, "study 'st-2'"));
  EXPECT_THAT(GetTrial("st-1", ""), StatusIs(StatusCode::kInvalidArgument, "trial_id"));
}

TEST_F(TrialTest, MalformedTrialsNameTheField) {
  PutStudy(MakeStudy("st-1"));
  v1::Trial trial = MakeTrial("st-1", 0);
  EXPECT_THAT(PutTrial(trial),
              StatusIs(StatusCode::kInvalidArgument, "trial.number: 0 must be positive"));
  trial = MakeTrial("", 1);
  EXPECT_THAT(PutTrial(trial),
              StatusIs(StatusCode::kInvalidArgument, "trial.study_id: must be non-empty"));
  trial = MakeTrial("st-1", 1);
  trial.set_id("t 1");
  EXPECT_THAT(PutTrial(trial), StatusIs(StatusCode::kInvalidArgument, "trial.id:"));
  EXPECT_THAT(store_->PutTrial(v1::PutTrialRequest()),
              StatusIs(StatusCode::kInvalidArgument, "trial: must be set"));
}

TEST_F(TrialTest, ListIsInTrialNumberOrderAcrossByteBoundariesAndPages) {
  PutStudy(MakeStudy("st-1"));
  for (int n : {300, 2, 256, 1, 10, 255, 65536})
    ASSERT_THAT(PutTrial(MakeTrial("st-1", n)), IsOk());
  v1::ListTrialRecordsRequest request;
  request.set_study_id("st-1");
  ASSERT_OK_AND_ASSIGN(v1::ListTrialRecordsResponse all, store_->ListTrials(request));
  EXPECT_THAT(Numbers(all), ElementsAre(1, 2, 10, 255, 256, 300, 65536));
  EXPECT_EQ(all.next_page_token(), "");

  request.set_page_size(3);
  ASSERT_OK_AND_ASSIGN(v1::ListTrialRecordsResponse first, store_->ListTrials(request));
  EXPECT_THAT(Numbers(first), ElementsAre(1, 2, 10));
  request.set_page_token(first.next_page_token());
  ASSERT_OK_AND_ASSIGN(v1::ListTrialRecordsResponse second, store_->ListTrials(request));
  EXPECT_THAT(Numbers(second), ElementsAre(255, 256, 300));
  request.set_page_token(second.next_page_token());
  ASSERT_OK_AND_ASSIGN(v1::ListTrialRecordsResponse third, store_->ListTrials(request));
  EXPECT_THAT(Numbers(third), ElementsAre(65536));
  EXPECT_EQ(third.next_page_token(), "");

  request.set_page_token("x");
  EXPECT_THAT(store_->ListTrials(request), StatusIs(StatusCode::kInvalidArgument, "page_token"));
  request.set_study_id("st-none");
  request.set_page_token("");
  EXPECT_THAT(store_->ListTrials(request), StatusIs(StatusCode::kNotFound, "st-none"));
}

TEST_F(TrialTest, StudiesWithCommonPrefixesKeepTheirOwnTrials) {
  for (const char* id : {"s", "s1", "s1x"}) {
    PutStudy(MakeStudy(id));
    ASSERT_THAT(PutTrial(MakeTrial(id, 1)), IsOk());
  }
  ASSERT_THAT(PutTrial(MakeTrial("s1", 2)), IsOk());
  for (const auto& [id, count] :
       std::vector<std::pair<std::string, int>>{{"s", 1}, {"s1", 2}, {"s1x", 1}}) {
    v1::ListTrialRecordsRequest request;
    request.set_study_id(id);
    ASSERT_OK_AND_ASSIGN(v1::ListTrialRecordsResponse response, store_->ListTrials(request));
    EXPECT_EQ(response.trials_size(), count) << id;
    for (const v1::Trial& t : response.trials()) EXPECT_EQ(t.study_id(), id);
  }
}

TEST_F(TrialTest, ATrialKeepsItsNumberAndANumberItsTrial) {
  PutStudy(MakeStudy("st-1"));
  v1::Trial trial = MakeTrial("st-1", 1);
  ASSERT_THAT(PutTrial(trial), IsOk());
  trial.set_status(v1::TRIAL_STATUS_FAILED);  // an update of the same trial
  ASSERT_THAT(PutTrial(trial), IsOk());
  ASSERT_OK_AND_ASSIGN(v1::Trial stored, GetTrial("st-1", "t-1"));
  EXPECT_EQ(stored.status(), v1::TRIAL_STATUS_FAILED);

  trial.set_number(2);
  EXPECT_THAT(PutTrial(trial),
              StatusIs(StatusCode::kAlreadyExists,
                       "trial.number: trial 't-1' of study 'st-1' is stored as number 1"));
  v1::Trial other = MakeTrial("st-1", 1);
  other.set_id("t-other");
  EXPECT_THAT(PutTrial(other), StatusIs(StatusCode::kAlreadyExists,
                                        "number 1 of study 'st-1' already belongs to trial 't-1'"));
  EXPECT_THAT(GetTrial("st-1", "t-other"), StatusIs(StatusCode::kNotFound, "t-other"));
}

TEST_F(TrialTest, RecordsSurviveReopening) {
  PutStudy(MakeStudy("st-1"));
  for (int n = 1; n <= 5; ++n) ASSERT_THAT(PutTrial(MakeTrial("st-1", n)), IsOk());
  Reopen();
  for (int n = 1; n <= 5; ++n) {
    ASSERT_OK_AND_ASSIGN(v1::Trial t, GetTrial("st-1", absl::StrCat("t-", n)));
    EXPECT_EQ(DeterministicBytes(t), DeterministicBytes(MakeTrial("st-1", n)));
  }
}

class CommitTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    PutStudy(MakeStudy("st-1"));
    v1::AppendEventsRequest append;
    *append.add_events() = MakeEvent("st-1", 1, v1::StudyEvent::TYPE_STUDY_SUBMITTED);
    ASSERT_THAT(store_->AppendEvents(append), IsOk());
  }
  // Trial 1 finished, the study's new best, and two events.
  v1::CommitTrialResultRequest Result(int64_t expected_version) {
    v1::CommitTrialResultRequest request;
    *request.mutable_trial() = MakeTrial("st-1", 1);
    *request.mutable_study() = MakeStudy("st-1");
    request.mutable_study()->set_best_trial_id("t-1");
    request.mutable_study()->set_has_best(true);
    *request.add_events() = MakeEvent("st-1", 2, v1::StudyEvent::TYPE_TRIAL_FINISHED);
    *request.add_events() = MakeEvent("st-1", 3, v1::StudyEvent::TYPE_NEW_BEST);
    request.set_expected_study_version(expected_version);
    return request;
  }
  std::vector<int64_t> EventSequences() {
    v1::ListEventsRequest request;
    request.set_study_id("st-1");
    absl::StatusOr<v1::ListEventsResponse> response = store_->ListEvents(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? Sequences(*response) : std::vector<int64_t>{};
  }
  // Nothing of Result() is stored and the study is still at version 1.
  void ExpectNothingCommitted() {
    EXPECT_THAT(GetTrial("st-1", "t-1"), StatusIs(StatusCode::kNotFound, "t-1"));
    ASSERT_OK_AND_ASSIGN(v1::Study study, GetStudy("st-1"));
    EXPECT_EQ(study.version(), 1);
    EXPECT_FALSE(study.has_best());
    EXPECT_THAT(EventSequences(), ElementsAre(1));
  }
};

TEST_F(CommitTest, StoresTrialStudyAndEventsTogether) {
  ASSERT_OK_AND_ASSIGN(v1::CommitTrialResultResponse response,
                       store_->CommitTrialResult(Result(1)));
  EXPECT_EQ(response.study_version(), 2);
  ASSERT_OK_AND_ASSIGN(v1::Trial trial, GetTrial("st-1", "t-1"));
  EXPECT_EQ(DeterministicBytes(trial), DeterministicBytes(MakeTrial("st-1", 1)));
  ASSERT_OK_AND_ASSIGN(v1::Study study, GetStudy("st-1"));
  EXPECT_EQ(study.version(), 2);
  EXPECT_EQ(study.best_trial_id(), "t-1");
  EXPECT_THAT(EventSequences(), ElementsAre(1, 2, 3));
}

TEST_F(CommitTest, VersionConflictCommitsNothing) {
  EXPECT_THAT(store_->CommitTrialResult(Result(7)),
              StatusIs(StatusCode::kAborted, "not the expected 7"));
  ExpectNothingCommitted();
}

TEST_F(CommitTest, AConflictingEventCommitsNothing) {
  v1::AppendEventsRequest append;
  *append.add_events() = MakeEvent("st-1", 3, v1::StudyEvent::TYPE_PLANNER_FALLBACK);
  ASSERT_THAT(store_->AppendEvents(append), IsOk());
  EXPECT_THAT(store_->CommitTrialResult(Result(1)),
              StatusIs(StatusCode::kAlreadyExists, "events[1].sequence: event 3"));
  EXPECT_THAT(GetTrial("st-1", "t-1"), StatusIs(StatusCode::kNotFound, "t-1"));
  ASSERT_OK_AND_ASSIGN(v1::Study study, GetStudy("st-1"));
  EXPECT_EQ(study.version(), 1);
  EXPECT_THAT(EventSequences(), ElementsAre(1, 3));
}

TEST_F(CommitTest, ATakenTrialNumberCommitsNothing) {
  v1::CommitTrialResultRequest request = Result(0);
  request.mutable_trial()->set_id("t-one");
  ASSERT_THAT(PutTrial(MakeTrial("st-1", 1)), IsOk());
  EXPECT_THAT(store_->CommitTrialResult(request),
              StatusIs(StatusCode::kAlreadyExists, "already belongs to trial 't-1'"));
  ASSERT_OK_AND_ASSIGN(v1::Study study, GetStudy("st-1"));
  EXPECT_EQ(study.version(), 1);
  EXPECT_THAT(EventSequences(), ElementsAre(1));
}

TEST_F(CommitTest, MismatchedAndUnknownStudies) {
  v1::CommitTrialResultRequest request = Result(0);
  request.mutable_trial()->set_study_id("st-2");
  EXPECT_THAT(
      store_->CommitTrialResult(request),
      StatusIs(StatusCode::kInvalidArgument, "trial.study_id: 'st-2' differs from study.id"));
  request = Result(0);
  request.mutable_events(1)->set_study_id("st-2");
  EXPECT_THAT(store_->CommitTrialResult(request),
              StatusIs(StatusCode::kInvalidArgument, "events[1].study_id"));
  request = Result(0);
  request.mutable_study()->set_id("st-2");
  request.mutable_trial()->set_study_id("st-2");
  for (auto& e : *request.mutable_events()) e.set_study_id("st-2");
  EXPECT_THAT(store_->CommitTrialResult(request),
              StatusIs(StatusCode::kNotFound, "study 'st-2' not found"));
  ExpectNothingCommitted();
}

TEST_F(CommitTest, MoreTrialsAreStoredInTheSameWrite) {
  v1::CommitTrialResultRequest request = Result(1);
  *request.add_more_trials() = MakeTrial("st-1", 2);
  *request.add_more_trials() = MakeTrial("st-1", 3);
  ASSERT_OK_AND_ASSIGN(v1::CommitTrialResultResponse response, store_->CommitTrialResult(request));
  EXPECT_EQ(response.study_version(), 2);
  for (int n : {1, 2, 3}) {
    ASSERT_OK_AND_ASSIGN(v1::Trial trial, GetTrial("st-1", absl::StrCat("t-", n)));
    EXPECT_EQ(DeterministicBytes(trial), DeterministicBytes(MakeTrial("st-1", n)));
  }
  EXPECT_THAT(EventSequences(), ElementsAre(1, 2, 3));
}

TEST_F(CommitTest, BadMoreTrialsNameTheirFieldAndCommitNothing) {
  v1::CommitTrialResultRequest request = Result(1);
  *request.add_more_trials() = MakeTrial("st-1", 1);
  request.mutable_more_trials(0)->set_id("t-other");
  EXPECT_THAT(store_->CommitTrialResult(request),
              StatusIs(StatusCode::kInvalidArgument, "more_trials[0].number: 1 is another trial's"));
  request = Result(1);
  *request.add_more_trials() = MakeTrial("st-1", 2);
  *request.add_more_trials() = MakeTrial("st-2", 3);
  EXPECT_THAT(store_->CommitTrialResult(request),
              StatusIs(StatusCode::kInvalidArgument, "more_trials[1].study_id: 'st-2' differs from study.id"));
  request = Result(1);
  request.clear_trial();
  *request.add_more_trials() = MakeTrial("st-1", 2);
  EXPECT_THAT(store_->CommitTrialResult(request), StatusIs(StatusCode::kInvalidArgument, "more_trials: needs trial"));
  request = Result(1);
  *request.add_more_trials() = MakeTrial("st-1", 2);
  request.mutable_more_trials(0)->set_id("");
  EXPECT_THAT(store_->CommitTrialResult(request), StatusIs(StatusCode::kInvalidArgument, "more_trials[0]"));
  ExpectNothingCommitted();
  EXPECT_THAT(GetTrial("st-1", "t-2"), StatusIs(StatusCode::kNotFound, "t-2"));
}

using EventTest = StoreTest;

TEST_F(EventTest, AppendListAfterSequenceAndLimit) {
  PutStudy(MakeStudy("st-1"));
  v1::AppendEventsRequest append;
  for (int64_t seq : {1, 2, 255, 256, 70000}) *append.add_events() = MakeEvent("st-1", seq);
  ASSERT_THAT(store_->AppendEvents(append), IsOk());
  v1::ListEventsRequest list;
  list.set_study_id("st-1");
  ASSERT_OK_AND_ASSIGN(v1::ListEventsResponse all, store_->ListEvents(list));
  EXPECT_THAT(Sequences(all), ElementsAre(1, 2, 255, 256, 70000));
  list.set_after_sequence(2);
  list.set_limit(2);
  ASSERT_OK_AND_ASSIGN(v1::ListEventsResponse some, store_->ListEvents(list));
  EXPECT_THAT(Sequences(some), ElementsAre(255, 256));
  list.set_limit(-1);
  EXPECT_THAT(store_->ListEvents(list), StatusIs(StatusCode::kInvalidArgument, "limit"));
  list.set_limit(0);
  list.set_after_sequence(-3);
  EXPECT_THAT(store_->ListEvents(list), StatusIs(StatusCode::kInvalidArgument, "after_sequence"));
  list.set_after_sequence(0);
  list.set_study_id("st-none");
  EXPECT_THAT(store_->ListEvents(list), StatusIs(StatusCode::kNotFound, "st-none"));
}

TEST_F(EventTest, RetriedAppendIsIdempotentButOtherContentIsRefused) {
  PutStudy(MakeStudy("st-1"));
  v1::AppendEventsRequest append;
  *append.add_events() = MakeEvent("st-1", 1);
  *append.add_events() = MakeEvent("st-1", 2);
  ASSERT_THAT(store_->AppendEvents(append), IsOk());
  ASSERT_THAT(store_->AppendEvents(append), IsOk());
  append.mutable_events(1)->set_message("something else");
  EXPECT_THAT(store_->AppendEvents(append),
              StatusIs(StatusCode::kAlreadyExists, "events[1].sequence: event 2 of study 'st-1'"));
  v1::ListEventsRequest list;
  list.set_study_id("st-1");
  ASSERT_OK_AND_ASSIGN(v1::ListEventsResponse all, store_->ListEvents(list));
  EXPECT_THAT(Sequences(all), ElementsAre(1, 2));
  EXPECT_EQ(all.events(1).message(), "event 2");
}

TEST_F(EventTest, MalformedAppends) {
  options_.max_events_per_write = 3;
  Reopen();
  PutStudy(MakeStudy("st-1"));
  v1::AppendEventsRequest append;
  EXPECT_THAT(store_->AppendEvents(append),
              StatusIs(StatusCode::kInvalidArgument, "events: must hold at least one event"));
  *append.add_events() = MakeEvent("st-1", 5);
  *append.add_events() = MakeEvent("st-1", 4);
  EXPECT_THAT(store_->AppendEvents(append),
              StatusIs(StatusCode::kInvalidArgument,
                       "events[1].sequence: 4 does not increase over events[0].sequence 5"));
  append.mutable_events(1)->set_sequence(0);
  EXPECT_THAT(store_->AppendEvents(append),
              StatusIs(StatusCode::kInvalidArgument, "events[1].sequence: 0 must be positive"));
  append.mutable_events(1)->set_sequence(6);
  append.mutable_events(1)->set_study_id("st-2");
  EXPECT_THAT(store_->AppendEvents(append),
              StatusIs(StatusCode::kInvalidArgument, "events[1].study_id: 'st-2' differs"));
  append.clear_events();
  for (int i = 1; i <= 4; ++i) *append.add_events() = MakeEvent("st-1", i);
  EXPECT_THAT(store_->AppendEvents(append),
              StatusIs(StatusCode::kInvalidArgument, "events: 4 events exceed the limit of 3"));
  append.clear_events();
  *append.add_events() = MakeEvent("st-none", 1);
  EXPECT_THAT(store_->AppendEvents(append), StatusIs(StatusCode::kNotFound, "st-none"));
}

}  // namespace
}  // namespace vmle::memory::testing
