// The agent core with a real memory service and simulated workers: studies run to
// the end with every trial accounted for exactly once, leases expire and requeue,
// late reports are refused, an agent restarted mid-study finishes it, cancel and
// resume, early stopping, failure limits.
#include <map>
#include <set>

#include <thread>

#include "grpcpp/client_context.h"
#include "prometheus/registry.h"
#include "services/agent/planner/planner_factory.h"
#include "tests/agent/agent_test_util.h"

namespace vmle::agent::testing {
namespace {

using vmle::v1::StudyEvent;
using vmle::v1::Trial;

std::vector<Trial> TrialsOf(StudyManager& manager, const std::string& id) {
  vmle::v1::ListTrialsRequest request;
  request.set_study_id(id);
  request.set_page_size(1000);
  std::vector<Trial> out;
  for (;;) {
    auto page = manager.ListTrials(request);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) return out;
    for (const auto& t : page->trials()) out.push_back(t);
    if (page->next_page_token().empty()) return out;
    request.set_page_token(page->next_page_token());
  }
}

std::vector<StudyEvent> EventsOf(StudyManager& manager, const std::string& id) {
  std::vector<StudyEvent> events;
  vmle::v1::WatchStudyRequest request;
  request.set_study_id(id);
  EXPECT_TRUE(manager.Watch(request, [&](const StudyEvent& e) { events.push_back(e); return true; },
                            [] { return false; }).ok());
  return events;
}

// Submits `spec` straight to the StudyManager (the gRPC path has tests of its own above).
absl::StatusOr<vmle::v1::Study> Submit(InProcessCluster& cluster, const vmle::v1::StudySpec& spec) {
  vmle::v1::SubmitStudyRequest request;
  *request.mutable_spec() = spec;
  return cluster.manager().Submit(request);
}

// Every trial numbered 1..n once, finished, and its events tell the same story.
void ExpectAccountedOnce(StudyManager& manager, const vmle::v1::Study& study) {
  const std::vector<Trial> trials = TrialsOf(manager, study.id());
  ASSERT_EQ(static_cast<int>(trials.size()), study.trials_total());
  std::set<std::string> ids;
  for (size_t i = 0; i < trials.size(); ++i) {
    EXPECT_EQ(trials[i].number(), static_cast<int>(i) + 1);
    EXPECT_TRUE(ids.insert(trials[i].id()).second) << trials[i].id();
    EXPECT_TRUE(trials[i].status() == vmle::v1::TRIAL_STATUS_SUCCEEDED ||
                trials[i].status() == vmle::v1::TRIAL_STATUS_FAILED ||
                trials[i].status() == vmle::v1::TRIAL_STATUS_STOPPED)
        << trials[i].DebugString();
  }
  std::map<std::string, int> finished_events;
  int64_t expected_sequence = 1;
  for (const StudyEvent& e : EventsOf(manager, study.id())) {
    EXPECT_EQ(e.sequence(), expected_sequence++);
    if (e.type() == StudyEvent::TYPE_TRIAL_FINISHED || e.type() == StudyEvent::TYPE_TRIAL_FAILED ||
        e.type() == StudyEvent::TYPE_TRIAL_STOPPED) {
      ++finished_events[e.trial_id()];
    }
  }
  for (const Trial& t : trials) EXPECT_EQ(finished_events[t.id()], 1) << t.id();
}

TEST(StudyManagerTest, RefusesInvalidSpecsNamingTheField) {
  InProcessCluster cluster;
  cluster.StartAgent();
  struct Case {
    std::function<void(vmle::v1::StudySpec&)> edit;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](auto& s) { s.mutable_budget()->set_max_trials(0); }, "spec.budget.max_trials"},
      {[](auto& s) { s.mutable_budget()->set_parallelism(-1); }, "spec.budget.parallelism"},
      {[](auto& s) { s.mutable_budget()->set_max_wall_seconds(-5); }, "spec.budget.max_wall_seconds"},
      {[](auto& s) { s.mutable_planner()->set_name("annealing"); }, "spec.planner.name"},
      {[](auto& s) {
         s.mutable_dataset()->set_format(vmle::v1::DATASET_FORMAT_SEQUENTIAL);
         s.mutable_dataset()->set_path("../etc/passwd");
       },
       "spec.dataset.path"},
      {[](auto& s) {
         s.mutable_dataset()->set_format(vmle::v1::DATASET_FORMAT_UNSPECIFIED);
         s.mutable_dataset()->set_path("data.bin");
       },
       "spec.dataset.format"},
      {[](auto& s) { s.set_backbone(static_cast<vmle::v1::Backbone>(42)); }, "spec.backbone"},
      {[](auto& s) { (*s.mutable_fixed()->mutable_values())["lr"].set_float_value(5.0); }, "lr"},
      {[](auto& s) { (*s.mutable_fixed()->mutable_values())["threads"].set_int_value(4); }, "spec.fixed.threads"},
      {[](auto& s) { (*s.mutable_fixed()->mutable_values())["lr"].set_categorical_value("0.001"); },
       "spec.fixed: parameter 'lr': expected a number, got the text \"0.001\""},
      {[](auto& s) { (*s.mutable_fixed()->mutable_values())["grad_clip"].set_bool_value(true); },
       "spec.fixed: parameter 'grad_clip': expected a number, got the bool true"},
      {[](auto& s) {
         auto* p = s.mutable_search_space()->add_params();
         p->set_name("dropout");
         p->mutable_float_range()->set_min(0.5);
         p->mutable_float_range()->set_max(2.0);
       },
       "dropout"},
      {[](auto& s) { s.mutable_search_space()->add_params()->set_name("no_such_knob"); }, "no_such_knob"},
      {[](auto& s) { s.mutable_early_stopping()->set_grace_epochs(-1); }, "spec.early_stopping.grace_epochs"},
      {[](auto& s) { s.set_device("tpu"); }, "spec.device"},
  };
  for (const Case& c : cases) {
    vmle::v1::SubmitStudyRequest request;
    *request.mutable_spec() = SimSpec("random", 4, 1);
    c.edit(*request.mutable_spec());
    vmle::v1::Study study;
    grpc::ClientContext context;
    const grpc::Status status = cluster.studies().SubmitStudy(&context, request, &study);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_THAT(status.error_message(), ::testing::HasSubstr(c.field));
  }
}

TEST(StudyManagerTest, RunsAStudyToItsBudgetThroughTheApi) {
  InProcessCluster cluster;
  cluster.StartAgent();
  cluster.AddWorkers(3, absl::Milliseconds(1));
  vmle::v1::SubmitStudyRequest request;
  *request.mutable_spec() = SimSpec("tpe", 12, 3);
  request.set_request_id("run-once");
  vmle::v1::Study study;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(cluster.studies().SubmitStudy(&context, request, &study).ok());
  }
  // The same request id returns the same study.
  vmle::v1::Study again;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(cluster.studies().SubmitStudy(&context, request, &again).ok());
  }
  EXPECT_EQ(again.id(), study.id());

  // Watching through the API streams every event up to the end.
  grpc::ClientContext watch_context;
  vmle::v1::WatchStudyRequest watch;
  watch.set_study_id(study.id());
  auto reader = cluster.studies().WatchStudy(&watch_context, watch);
  StudyEvent event;
  std::vector<StudyEvent> events;
  while (reader->Read(&event)) events.push_back(event);
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().type(), StudyEvent::TYPE_STUDY_SUBMITTED);
  EXPECT_EQ(events.back().type(), StudyEvent::TYPE_STUDY_FINISHED);

  auto ended = cluster.WaitForEnd(study.id(), absl::Seconds(60));
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->state(), vmle::v1::STUDY_STATE_SUCCEEDED);
  EXPECT_EQ(ended->trials_total(), 12);
  EXPECT_TRUE(ended->has_best());
  EXPECT_TRUE(ended->has_dataset_profile());
  ExpectAccountedOnce(cluster.manager(), *ended);

  vmle::v1::GetReportRequest report_request;
  report_request.set_study_id(study.id());
  vmle::v1::StudyReport report;
  grpc::ClientContext report_context;
  ASSERT_TRUE(cluster.studies().GetReport(&report_context, report_request, &report).ok());
  EXPECT_EQ(report.trajectory_size(), 12);
  EXPECT_EQ(report.best_trial().id(), ended->best_trial_id());
  EXPECT_GT(report.best_trial().test().ndcg_at_10(), 0);
  EXPECT_THAT(report.markdown(), ::testing::HasSubstr("## Best configuration"));
  double best = 0;
  for (const auto& e : report.trajectory()) {
    EXPECT_GE(e.best_so_far(), best);
    best = e.best_so_far();
  }
  EXPECT_DOUBLE_EQ(best, ended->best_value());
}

// Workers that send the epochs of a report interval together: every trial still
// stores its whole curve, and Watch shows one progress event per epoch.
TEST(StudyManagerTest, EpochsReportedTogetherAreEachStoredAndWatched) {
  InProcessCluster cluster;
  cluster.StartAgent();
  cluster.AddWorkers(2, absl::Milliseconds(1), "w", absl::Hours(1));
  vmle::v1::SubmitStudyRequest request;
  *request.mutable_spec() = SimSpec("random", 6, 2);
  vmle::v1::Study study;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(cluster.studies().SubmitStudy(&context, request, &study).ok());
  }
  grpc::ClientContext watch_context;
  vmle::v1::WatchStudyRequest watch;
  watch.set_study_id(study.id());
  auto reader = cluster.studies().WatchStudy(&watch_context, watch);
  std::map<std::string, std::vector<int>> watched;  // trial id -> epochs in progress events
  StudyEvent event;
  while (reader->Read(&event)) {
    if (event.type() == StudyEvent::TYPE_TRIAL_PROGRESS) watched[event.trial_id()].push_back(event.epoch().epoch());
  }
  ASSERT_TRUE(reader->Finish().ok());
  auto ended = cluster.WaitForEnd(study.id(), absl::Seconds(60));
  ASSERT_TRUE(ended.ok()) << ended.status();
  ExpectAccountedOnce(cluster.manager(), *ended);
  vmle::v1::ListTrialsRequest list;
  list.set_study_id(study.id());
  auto trials = cluster.manager().ListTrials(list);
  ASSERT_TRUE(trials.ok()) << trials.status();
  int several = 0;
  for (const auto& t : trials->trials()) {
    if (t.status() != vmle::v1::TRIAL_STATUS_SUCCEEDED) continue;
    std::vector<int> stored;
    for (const auto& e : t.epochs()) stored.push_back(e.epoch());
    ASSERT_FALSE(stored.empty()) << t.id();
    for (size_t i = 0; i < stored.size(); ++i) EXPECT_EQ(stored[i], static_cast<int>(i) + 1) << t.id();
    EXPECT_EQ(watched[t.id()], stored) << t.id();
    EXPECT_LE(t.best_epoch(), static_cast<int>(stored.size())) << t.id();
    several += stored.size() > 2;
  }
  EXPECT_GT(several, 0) << "no trial had epochs to send together";
}

TEST(StudyManagerTest, ThirtyTwoWorkersFourStudiesAThousandTrialsEachAccountedOnce) {
  InProcessCluster cluster;
  cluster.StartAgent();
  cluster.AddWorkers(32, absl::Microseconds(200));
  std::vector<std::string> ids;
  const std::vector<std::string> planners = {"random", "tpe", "random_default", "grid"};
  for (int i = 0; i < 4; ++i) {
    vmle::v1::StudySpec spec = SimSpec(planners[i], 250, 8);
    // Random samples with an lr far too high diverge now and then.
    spec.mutable_budget()->set_max_failed_trials(250);
    if (planners[i] == "grid") (*spec.mutable_planner()->mutable_options())["points"] = "4";
    auto study = Submit(cluster, spec);
    ASSERT_TRUE(study.ok()) << study.status();
    ids.push_back(study->id());
  }
  int total = 0;
  for (const std::string& id : ids) {
    auto ended = cluster.WaitForEnd(id, absl::Seconds(300));
    ASSERT_TRUE(ended.ok()) << ended.status();
    EXPECT_EQ(ended->state(), vmle::v1::STUDY_STATE_SUCCEEDED) << ended->end_reason() << ended->error();
    EXPECT_EQ(ended->trials_total(), 250);
    ExpectAccountedOnce(cluster.manager(), *ended);
    total += ended->trials_total();
  }
  EXPECT_EQ(total, 1000);
  int64_t completed = 0;
  for (const auto& w : cluster.workers()) completed += w->stats().trials_completed + w->stats().trials_failed;
  EXPECT_EQ(completed, 1000);
}

TEST(StudyManagerTest, ExpiredLeaseRequeuesAndLateReportsAreRefused) {
  InProcessCluster cluster;
  StudyManager::Options options = InProcessCluster::DefaultOptions();
  options.lease_duration = absl::Milliseconds(400);
  cluster.StartAgent(options);
  auto study = Submit(cluster, SimSpec("random", 1, 1));
  ASSERT_TRUE(study.ok());

  // A worker leases the trial and disappears.
  vmle::v1::LeaseTrialRequest lease;
  lease.mutable_worker()->set_worker_id("lost");
  lease.set_wait_seconds(5);
  auto first = cluster.manager().trial_queue().Lease(lease, [] { return false; });
  ASSERT_TRUE(first.ok() && first->has_assignment());
  absl::SleepFor(absl::Milliseconds(900));

  vmle::v1::CompleteTrialRequest late;
  late.set_trial_id(first->assignment().trial_id());
  late.set_lease_id(first->assignment().lease_id());
  late.set_best_epoch(1);
  EXPECT_THAT(cluster.manager().trial_queue().Complete(late), StatusIs(absl::StatusCode::kFailedPrecondition, "abandon"));
  vmle::v1::HeartbeatRequest heartbeat;
  heartbeat.set_trial_id(late.trial_id());
  heartbeat.set_lease_id(late.lease_id());
  EXPECT_THAT(cluster.manager().trial_queue().Heartbeat(heartbeat).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, "no longer valid"));

  // The trial went back to the queue; a live worker finishes it.
  cluster.AddWorkers(1, absl::Milliseconds(1));
  auto ended = cluster.WaitForEnd(study->id(), absl::Seconds(30));
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->state(), vmle::v1::STUDY_STATE_SUCCEEDED);
  const auto trials = TrialsOf(cluster.manager(), study->id());
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].status(), vmle::v1::TRIAL_STATUS_SUCCEEDED);
  EXPECT_EQ(trials[0].attempts(), 2);
  ExpectAccountedOnce(cluster.manager(), *ended);
}

TEST(StudyManagerTest, TrialFailingOnEveryRetryFailsAndTheStudyFailsAtItsLimit) {
  InProcessCluster cluster;
  cluster.StartAgent();
  vmle::v1::StudySpec spec = SimSpec("random", 10, 1);
  spec.mutable_budget()->set_max_failed_trials(2);
  spec.mutable_budget()->set_max_trial_retries(1);
  auto study = Submit(cluster, spec);
  ASSERT_TRUE(study.ok());
  vmle::v1::LeaseTrialRequest lease;
  lease.mutable_worker()->set_worker_id("broken");
  lease.set_wait_seconds(5);
  std::map<std::string, int> attempts;
  for (int i = 0; i < 4; ++i) {
    auto got = cluster.manager().trial_queue().Lease(lease, [] { return false; });
    ASSERT_TRUE(got.ok() && got->has_assignment()) << i;
    ++attempts[got->assignment().trial_id()];
    vmle::v1::FailTrialRequest fail;
    fail.set_trial_id(got->assignment().trial_id());
    fail.set_lease_id(got->assignment().lease_id());
    fail.set_error("CUDA device 0 is gone");
    fail.set_failure_cause("device");
    fail.set_retryable(true);
    ASSERT_TRUE(cluster.manager().trial_queue().Fail(fail).ok());
  }
  // Two trials, each leased twice (one retry), then the failure limit ended the study.
  EXPECT_EQ(attempts.size(), 2u);
  for (const auto& [id, n] : attempts) EXPECT_EQ(n, 2) << id;
  auto ended = cluster.WaitForEnd(study->id(), absl::Seconds(30));
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->state(), vmle::v1::STUDY_STATE_FAILED);
  EXPECT_THAT(ended->end_reason(), ::testing::HasSubstr("2 trials failed"));
  for (const Trial& t : TrialsOf(cluster.manager(), study->id())) {
    if (t.status() == vmle::v1::TRIAL_STATUS_FAILED) {
      EXPECT_EQ(t.failure_cause(), "device");
    }
  }
}

TEST(StudyManagerTest, RestartedAgentFinishesTheStudyWithNoTrialLostOrDuplicated) {
  InProcessCluster cluster;
  cluster.StartAgent();
  cluster.AddWorkers(4, absl::Milliseconds(5));
  auto study = Submit(cluster, SimSpec("tpe", 40, 4));
  ASSERT_TRUE(study.ok());
  ASSERT_TRUE(cluster.WaitFor(study->id(), [](const vmle::v1::Study& s) { return s.trials_succeeded() >= 10; }).ok());
  cluster.StopAgent();
  absl::SleepFor(absl::Milliseconds(300));
  cluster.StartAgent();
  // The new agent listens on another port: fresh workers find it, as a Deployment's
  // workers find the Service again; the trials the old workers held are leased
  // again once their leases (renewed by the new agent at start) run out.
  cluster.StopWorkers();
  cluster.AddWorkers(4, absl::Milliseconds(5), "after-restart");
  auto ended = cluster.WaitForEnd(study->id(), absl::Seconds(120));
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->state(), vmle::v1::STUDY_STATE_SUCCEEDED);
  EXPECT_EQ(ended->trials_total(), 40);
  ExpectAccountedOnce(cluster.manager(), *ended);
}

TEST(StudyManagerTest, AWorkerStoppingWithHandBackReleasesItsTrialAtOnce) {
  InProcessCluster cluster;
  cluster.StartAgent();
  cluster.AddWorkers(1, absl::Milliseconds(200));
  auto study = Submit(cluster, SimSpec("random", 2, 1));
  ASSERT_TRUE(study.ok());
  ASSERT_TRUE(cluster.WaitFor(study->id(), [](const vmle::v1::Study& s) { return s.trials_running() == 1; }).ok());
  cluster.workers()[0]->Stop(/*hand_back=*/true);
  EXPECT_EQ(cluster.workers()[0]->stats().trials_released, 1);
  // Queued again at once, not held until its lease runs out as with a lost worker.
  auto after = cluster.manager().GetStudy(study->id());
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->trials_running(), 0);
  EXPECT_EQ(after->trials_failed(), 0);
  cluster.AddWorkers(1, absl::Milliseconds(5), "second");
  auto ended = cluster.WaitForEnd(study->id(), absl::Seconds(60));
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->state(), vmle::v1::STUDY_STATE_SUCCEEDED);
  EXPECT_EQ(ended->trials_succeeded(), 2);
  ExpectAccountedOnce(cluster.manager(), *ended);
}

TEST(StudyManagerTest, CancelStopsRunningTrialsAndResumeAddsTrials) {
  InProcessCluster cluster;
  cluster.StartAgent();
  cluster.AddWorkers(2, absl::Milliseconds(30));
  vmle::v1::StudySpec spec = SimSpec("random", 20, 2);
  spec.mutable_budget()->set_max_failed_trials(20);
  auto study = Submit(cluster, spec);
  ASSERT_TRUE(study.ok());
  ASSERT_TRUE(cluster.WaitFor(study->id(), [](const vmle::v1::Study& s) { return s.trials_running() == 2; }).ok());
  vmle::v1::CancelStudyRequest cancel;
  cancel.set_study_id(study->id());
  cancel.set_reason("enough");
  auto cancelled = cluster.manager().Cancel(cancel);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), vmle::v1::STUDY_STATE_CANCELLED);
  EXPECT_THAT(cluster.manager().Cancel(cancel).status(), StatusIs(absl::StatusCode::kFailedPrecondition, "already"));
  auto ended = cluster.WaitForEnd(study->id(), absl::Seconds(30));
  ASSERT_TRUE(ended.ok());
  EXPECT_EQ(ended->trials_running(), 0);
  EXPECT_EQ(ended->trials_stopped(), 2);  // told to stop at their next report
  EXPECT_LT(ended->trials_total(), 20);

  vmle::v1::ResumeStudyRequest resume;
  resume.set_study_id(study->id());
  resume.set_additional_trials(3);
  auto resumed = cluster.manager().Resume(resume);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->spec().budget().max_trials(), 23);
  resume.set_additional_trials(0);
  EXPECT_THAT(cluster.manager().Resume(resume).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "additional_trials"));
  auto finished = cluster.WaitForEnd(study->id(), absl::Seconds(60));
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_EQ(finished->state(), vmle::v1::STUDY_STATE_SUCCEEDED);
  EXPECT_EQ(finished->trials_total(), 23);
  ExpectAccountedOnce(cluster.manager(), *finished);
}

TEST(StudyManagerTest, MedianEarlyStoppingStopsPoorTrials) {
  InProcessCluster cluster;
  cluster.StartAgent();
  cluster.AddWorkers(2, absl::Milliseconds(1));
  vmle::v1::StudySpec spec = SimSpec("random", 30, 2);
  spec.mutable_early_stopping()->set_rule(vmle::v1::EARLY_STOPPING_RULE_MEDIAN);
  auto study = Submit(cluster, spec);
  ASSERT_TRUE(study.ok());
  auto ended = cluster.WaitForEnd(study->id(), absl::Seconds(60));
  ASSERT_TRUE(ended.ok());
  EXPECT_EQ(ended->state(), vmle::v1::STUDY_STATE_SUCCEEDED);
  EXPECT_GT(ended->trials_stopped(), 0);
  for (const Trial& t : TrialsOf(cluster.manager(), study->id())) {
    if (t.status() == vmle::v1::TRIAL_STATUS_STOPPED) {
      EXPECT_THAT(t.error(), ::testing::HasSubstr("early stopping"));
      EXPECT_GE(t.epochs_size(), 3);  // grace epochs
    }
  }
  ExpectAccountedOnce(cluster.manager(), *ended);
}

TEST(StudyManagerTest, TargetAndPatienceEndTheStudyEarly) {
  InProcessCluster cluster;
  cluster.StartAgent();
  cluster.AddWorkers(1, absl::Milliseconds(1));
  vmle::v1::StudySpec spec = SimSpec("random", 200, 1);
  spec.mutable_budget()->set_no_improvement_patience(5);
  auto study = Submit(cluster, spec);
  ASSERT_TRUE(study.ok());
  auto ended = cluster.WaitForEnd(study->id(), absl::Seconds(60));
  ASSERT_TRUE(ended.ok());
  EXPECT_EQ(ended->state(), vmle::v1::STUDY_STATE_SUCCEEDED);
  EXPECT_THAT(ended->end_reason(), ::testing::HasSubstr("no improvement"));
  EXPECT_LT(ended->trials_total(), 200);

  spec = SimSpec("random", 200, 1);
  spec.mutable_budget()->set_has_target(true);
  spec.mutable_budget()->set_target_value(0.0001);
  auto targeted = Submit(cluster, spec);
  ASSERT_TRUE(targeted.ok());
  auto done = cluster.WaitForEnd(targeted->id(), absl::Seconds(60));
  ASSERT_TRUE(done.ok());
  EXPECT_THAT(done->end_reason(), ::testing::HasSubstr("target"));
  EXPECT_EQ(done->trials_total(), 1);
}

TEST(StudyManagerTest, FixedParametersAndNarrowedSpaceShapeEveryTrial) {
  InProcessCluster cluster;
  cluster.StartAgent();
  cluster.AddWorkers(2, absl::Milliseconds(1));
  vmle::v1::StudySpec spec = SimSpec("random_default", 6, 2);
  auto& fixed = *spec.mutable_fixed()->mutable_values();
  fixed["max_epochs"].set_int_value(2);
  fixed["hidden_dim"].set_float_value(16.0);  // a whole number: trials carry the integer 16
  fixed["grad_clip"].set_int_value(1);        // outside the space: typed by the training setting
  auto* lr = spec.mutable_search_space()->add_params();
  lr->set_name("lr");
  lr->mutable_float_range()->set_min(1e-4);
  lr->mutable_float_range()->set_max(1e-3);
  lr->mutable_float_range()->set_log_scale(true);
  auto study = Submit(cluster, spec);
  ASSERT_TRUE(study.ok()) << study.status();
  auto ended = cluster.WaitForEnd(study->id(), absl::Seconds(60));
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->trials_total(), 6) << ended->end_reason() << ended->error();
  for (const Trial& t : TrialsOf(cluster.manager(), study->id())) {
    EXPECT_EQ(t.config().values().at("max_epochs").int_value(), 2);
    ASSERT_EQ(t.config().values().at("hidden_dim").kind_case(), vmle::v1::ParamValue::kIntValue);
    EXPECT_EQ(t.config().values().at("hidden_dim").int_value(), 16);
    EXPECT_EQ(t.config().values().at("grad_clip").int_value(), 1);
    const double value = t.config().values().at("lr").float_value();
    EXPECT_GE(value, 1e-4);
    EXPECT_LE(value, 1e-3);
  }
}

}  // namespace
}  // namespace vmle::agent::testing

namespace vmle::agent::testing {
namespace {

// Generated study ids carry the submission second and random bits: hundreds of
// studies submitted within a second each get their own (16 bits collided at 64).
TEST(StudyManagerTest, HundredsOfStudiesSubmittedAtOnceGetDistinctIds) {
  InProcessCluster cluster;
  cluster.StartAgent();
  std::set<std::string> ids;
  for (int i = 0; i < 300; ++i) {
    vmle::v1::SubmitStudyRequest request;
    *request.mutable_spec() = SimSpec("random", 1, 1);
    auto study = cluster.manager().Submit(request);
    ASSERT_TRUE(study.ok()) << "study " << i << ": " << study.status();
    EXPECT_TRUE(ids.insert(study->id()).second) << study->id();
  }
  EXPECT_EQ(ids.size(), 300u);
}

}  // namespace
}  // namespace vmle::agent::testing

namespace vmle::agent::testing {
namespace {

// (count, sum) of the histogram `name` in `registry`.
std::pair<uint64_t, double> HistogramOf(prometheus::Registry& registry, const std::string& name) {
  for (const auto& family : registry.Collect()) {
    if (family.name == name && !family.metric.empty()) {
      return {family.metric[0].histogram.sample_count, family.metric[0].histogram.sample_sum};
    }
  }
  return {0, 0};
}

// Starts the agent with its metrics in `registry` (the tests below run it on a memory
// service whose writes take 50 ms: changes that arrive during one wait for the next).
void StartAgentWithMetrics(InProcessCluster& cluster, prometheus::Registry& registry) {
  StudyManager::Options options = InProcessCluster::DefaultOptions();
  options.registry = &registry;
  cluster.StartAgent(options);
}

TEST(StudyManagerTest, ProgressReportsThatArriveTogetherShareOneWrite) {
  InProcessCluster cluster(absl::Milliseconds(50));
  prometheus::Registry registry;
  StartAgentWithMetrics(cluster, registry);
  constexpr int kTrials = 8;
  auto study = Submit(cluster, SimSpec("random", kTrials, kTrials));
  ASSERT_TRUE(study.ok()) << study.status();
  std::vector<vmle::v1::TrialAssignment> leased;
  for (int i = 0; i < kTrials; ++i) {
    vmle::v1::LeaseTrialRequest lease;
    lease.mutable_worker()->set_worker_id(absl::StrCat("w-", i));
    lease.set_wait_seconds(10);
    auto got = cluster.manager().trial_queue().Lease(lease, [] { return false; });
    ASSERT_TRUE(got.ok() && got->has_assignment()) << got.status();
    leased.push_back(got->assignment());
  }
  std::atomic<int> ready{0};
  std::vector<absl::StatusOr<vmle::v1::ReportProgressResponse>> replies(kTrials, absl::UnknownError("not run"));
  std::vector<std::thread> workers;
  for (int i = 0; i < kTrials; ++i) {
    workers.emplace_back([&, i] {
      vmle::v1::ReportProgressRequest progress;
      progress.set_trial_id(leased[i].trial_id());
      progress.set_lease_id(leased[i].lease_id());
      progress.mutable_epoch()->set_epoch(1);
      progress.mutable_epoch()->mutable_validation()->set_ndcg_at_10(0.01 * (i + 1));
      ready.fetch_add(1);
      while (ready.load() < kTrials) std::this_thread::yield();
      replies[i] = cluster.manager().trial_queue().Progress(progress);
    });
  }
  for (auto& t : workers) t.join();
  for (int i = 0; i < kTrials; ++i) {
    ASSERT_TRUE(replies[i].ok()) << replies[i].status();
    EXPECT_EQ(replies[i]->action(), vmle::v1::ReportProgressResponse::ACTION_CONTINUE);
  }
  // Every report stored and acknowledged, in fewer writes than reports.
  const auto [writes, reports] = HistogramOf(registry, "vmle_agent_progress_reports_per_write");
  EXPECT_EQ(reports, kTrials);
  EXPECT_LT(writes, static_cast<uint64_t>(kTrials));
  for (const Trial& t : TrialsOf(cluster.manager(), study->id())) {
    ASSERT_EQ(t.epochs_size(), 1) << t.id();
    EXPECT_GT(t.epochs(0).validation().ndcg_at_10(), 0);
  }
  // The events so far (the study is still running: the watch ends once they are read).
  int progress_events = 0;
  int64_t expected_sequence = 1;
  vmle::v1::WatchStudyRequest watch;
  watch.set_study_id(study->id());
  EXPECT_THAT(cluster.manager().Watch(
                  watch,
                  [&](const StudyEvent& e) {
                    EXPECT_EQ(e.sequence(), expected_sequence++);
                    progress_events += e.type() == StudyEvent::TYPE_TRIAL_PROGRESS;
                    return true;
                  },
                  [] { return true; }),
              StatusIs(absl::StatusCode::kCancelled, "went away"));
  EXPECT_EQ(progress_events, kTrials);
  // An agent restarted on the same memory service reads the same epochs back.
  cluster.StopAgent();
  cluster.StartAgent();
  for (const Trial& t : TrialsOf(cluster.manager(), study->id())) EXPECT_EQ(t.epochs_size(), 1) << t.id();
}

}  // namespace
}  // namespace vmle::agent::testing

namespace vmle::agent::testing {
namespace {

// Proposes like the random planner, but its first Propose blocks until `release`
// (a planner waiting on a slow LLM endpoint).
class BlockingPlanner final : public Planner {
 public:
  BlockingPlanner(std::unique_ptr<Planner> inner, std::shared_ptr<std::atomic<bool>> release)
      : inner_(std::move(inner)), release_(std::move(release)) {}
  std::string Name() const override { return "blocking"; }
  absl::StatusOr<std::vector<PlannedTrial>> Propose(const PlanningContext& context) override {
    while (!release_->load()) absl::SleepFor(absl::Milliseconds(5));
    return inner_->Propose(context);
  }

 private:
  std::unique_ptr<Planner> inner_;
  std::shared_ptr<std::atomic<bool>> release_;
};

TEST(StudyManagerTest, AStudyWhosePlannerIsSlowDoesNotHoldUpTheOthers) {
  InProcessCluster cluster;
  auto release = std::make_shared<std::atomic<bool>>(false);
  // The first study the agent builds a planner for gets the blocking one.
  auto first = std::make_shared<std::string>();
  auto first_mu = std::make_shared<absl::Mutex>();
  StudyManager::Options options = InProcessCluster::DefaultOptions();
  options.make_planner = [release, first, first_mu](const vmle::v1::PlannerSpec& spec,
                                                    const std::string& id) -> absl::StatusOr<std::unique_ptr<Planner>> {
    auto inner = MakePlanner(spec);
    if (!inner.ok()) return inner.status();
    absl::MutexLock lock(first_mu.get());
    if (first->empty()) *first = id;
    if (*first != id) return inner;
    return std::unique_ptr<Planner>(std::make_unique<BlockingPlanner>(*std::move(inner), release));
  };
  cluster.StartAgent(options);
  auto slow = Submit(cluster, SimSpec("random", 2, 1));
  ASSERT_TRUE(slow.ok()) << slow.status();
  auto fast = Submit(cluster, SimSpec("random", 6, 2));
  ASSERT_TRUE(fast.ok()) << fast.status();
  cluster.AddWorkers(2, absl::Milliseconds(1));
  // The fast study runs to its end while the slow one's planner is still blocked.
  auto ended = cluster.WaitForEnd(fast->id(), absl::Seconds(60));
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->state(), vmle::v1::STUDY_STATE_SUCCEEDED);
  EXPECT_EQ(ended->trials_total(), 6);
  auto waiting = cluster.manager().GetStudy(slow->id());
  ASSERT_TRUE(waiting.ok());
  EXPECT_EQ(waiting->trials_total(), 0);
  release->store(true);
  auto slow_ended = cluster.WaitForEnd(slow->id(), absl::Seconds(60));
  ASSERT_TRUE(slow_ended.ok()) << slow_ended.status();
  EXPECT_EQ(slow_ended->trials_total(), 2);
  ExpectAccountedOnce(cluster.manager(), *ended);
  ExpectAccountedOnce(cluster.manager(), *slow_ended);
}

}  // namespace
}  // namespace vmle::agent::testing

namespace vmle::agent::testing {
namespace {

TEST(StudyManagerTest, WorkersWaitingTogetherAreLeasedTheirTrialsByTheWriteThatQueuesThem) {
  InProcessCluster cluster(absl::Milliseconds(50));
  prometheus::Registry registry;
  StartAgentWithMetrics(cluster, registry);
  constexpr int kWorkers = 8;
  // The workers wait first; the study's trials arrive while they wait.
  std::vector<absl::StatusOr<vmle::v1::LeaseTrialResponse>> leased(kWorkers, absl::UnknownError("not run"));
  std::atomic<int> waiting{0};
  std::vector<std::thread> workers;
  for (int i = 0; i < kWorkers; ++i) {
    workers.emplace_back([&, i] {
      vmle::v1::LeaseTrialRequest lease;
      lease.mutable_worker()->set_worker_id(absl::StrCat("w-", i));
      lease.set_wait_seconds(20);
      waiting.fetch_add(1);
      leased[i] = cluster.manager().trial_queue().Lease(lease, [] { return false; });
    });
  }
  while (cluster.manager().trial_queue().Waiting() < kWorkers) absl::SleepFor(absl::Milliseconds(5));
  auto study = Submit(cluster, SimSpec("random", kWorkers, kWorkers));
  ASSERT_TRUE(study.ok()) << study.status();
  for (auto& t : workers) t.join();
  std::set<std::string> trials, leases;
  for (int i = 0; i < kWorkers; ++i) {
    ASSERT_TRUE(leased[i].ok()) << leased[i].status();
    ASSERT_TRUE(leased[i]->has_assignment()) << "worker " << i << " got nothing";
    trials.insert(leased[i]->assignment().trial_id());
    leases.insert(leased[i]->assignment().lease_id());
  }
  EXPECT_EQ(trials.size(), static_cast<size_t>(kWorkers));
  EXPECT_EQ(leases.size(), static_cast<size_t>(kWorkers));
  // The planning round that proposed them leased them by its own write: the study's
  // record was written twice (submitted; queued and leased).
  const auto [writes, leased_trials] = HistogramOf(registry, "vmle_agent_leases_per_write");
  EXPECT_EQ(leased_trials, kWorkers);
  EXPECT_EQ(writes, 1u);
  auto held = cluster.manager().GetStudy(study->id());
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(held->version(), 2);
  EXPECT_EQ(held->trials_running(), kWorkers);
  // Every trial is stored as running under the worker and lease it was given.
  std::map<std::string, std::string> lease_of;
  for (const auto& r : leased) lease_of[r->assignment().trial_id()] = r->assignment().lease_id();
  for (const Trial& t : TrialsOf(cluster.manager(), study->id())) {
    EXPECT_EQ(t.status(), vmle::v1::TRIAL_STATUS_RUNNING) << t.id();
    EXPECT_EQ(t.lease_id(), lease_of[t.id()]) << t.id();
  }
}

// LeaseAsync without a thread per call: a wait that runs out is answered empty, a
// call withdrawn by its ticket is answered at once (long before its wait would end),
// and Stop answers every call still waiting, each exactly once.
TEST(StudyManagerTest, WaitingLeaseCallsAreEachAnsweredOnceWhenTheirWaitEndsTheyAreCancelledOrTheAgentStops) {
  InProcessCluster cluster;
  cluster.StartAgent();
  struct Answers {
    absl::Mutex mu;
    std::map<std::string, std::vector<absl::StatusOr<vmle::v1::LeaseTrialResponse>>> of;
    int count = 0;
  } answers;
  auto lease = [&](const std::string& worker, int wait_seconds) {
    vmle::v1::LeaseTrialRequest request;
    request.mutable_worker()->set_worker_id(worker);
    request.set_wait_seconds(wait_seconds);
    return cluster.manager().trial_queue().LeaseAsync(request, [&answers, worker](absl::StatusOr<vmle::v1::LeaseTrialResponse> r) {
      absl::MutexLock lock(&answers.mu);
      answers.of[worker].push_back(std::move(r));
      ++answers.count;
    });
  };
  auto await_answers = [&](int n, absl::Duration timeout) {
    absl::MutexLock lock(&answers.mu);
    const auto enough = [&] { return answers.count >= n; };
    return answers.mu.AwaitWithTimeout(absl::Condition(&enough), timeout);
  };
  // No study: the short wait runs out, answered without a trial.
  EXPECT_NE(lease("short", 1), 0u);
  ASSERT_TRUE(await_answers(1, absl::Seconds(20)));
  // A call withdrawn by its ticket is answered well before its 60 s wait ends.
  const uint64_t ticket = lease("withdrawn", 60);
  cluster.manager().trial_queue().CancelLease(ticket);
  ASSERT_TRUE(await_answers(2, absl::Seconds(20)));
  cluster.manager().trial_queue().CancelLease(ticket);  // twice: nothing more
  // Calls still waiting when the agent stops are answered UNAVAILABLE.
  constexpr int kWaiting = 20;
  for (int i = 0; i < kWaiting; ++i) lease(absl::StrCat("w-", i), 60);
  cluster.manager().Stop();
  ASSERT_TRUE(await_answers(2 + kWaiting, absl::Seconds(20)));
  // After Stop a new call is refused at once.
  EXPECT_EQ(lease("late", 60), 0u);
  absl::MutexLock lock(&answers.mu);
  EXPECT_EQ(answers.count, 3 + kWaiting);
  for (const auto& [worker, got] : answers.of) {
    ASSERT_EQ(got.size(), 1u) << worker;
    if (worker == "short" || worker == "withdrawn") {
      ASSERT_TRUE(got[0].ok()) << worker << ": " << got[0].status();
      EXPECT_FALSE(got[0]->has_assignment()) << worker;
    } else {
      EXPECT_TRUE(absl::IsUnavailable(got[0].status())) << worker << ": " << got[0].status();
    }
  }
}

}  // namespace
}  // namespace vmle::agent::testing
