// Bad input to the agent's API, one case per kind: every refusal has the right code,
// names the field and stays short whatever the input's length; nothing bad is
// accepted silently.
#include <string>
#include <thread>
#include <vector>

#include "common/auth/caller.h"
#include "grpcpp/client_context.h"
#include "tests/agent/agent_test_util.h"

namespace vmle::agent::testing {
namespace {

grpc::Status SubmitOverGrpc(InProcessCluster& cluster, const vmle::v1::SubmitStudyRequest& request,
                            vmle::v1::Study* study) {
  grpc::ClientContext context;
  return cluster.studies().SubmitStudy(&context, request, study);
}

vmle::v1::SubmitStudyRequest Request(const vmle::v1::StudySpec& spec, const std::string& request_id = "") {
  vmle::v1::SubmitStudyRequest request;
  *request.mutable_spec() = spec;
  request.set_request_id(request_id);
  return request;
}

TEST(BadInputTest, HugeValuesAreRefusedWithAShortMessageNamingTheField) {
  InProcessCluster cluster;
  cluster.StartAgent();
  const std::string huge(70 * 1024, 'z');
  struct Case {
    std::function<void(vmle::v1::StudySpec&)> edit;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[&](auto& s) { s.set_device(huge); }, "spec.device"},
      {[&](auto& s) { s.mutable_planner()->set_name(huge); }, "spec.planner.name"},
      {[&](auto& s) {
         s.mutable_dataset()->set_format(vmle::v1::DATASET_FORMAT_SEQUENTIAL);
         s.mutable_dataset()->set_path("/" + huge.substr(0, 4000));
       },
       "spec.dataset.path"},
      {[&](auto& s) { (*s.mutable_fixed()->mutable_values())[huge.substr(0, 2000)].set_int_value(1); }, "fixed"},
  };
  for (const Case& c : cases) {
    vmle::v1::StudySpec spec = SimSpec("random", 2, 1);
    c.edit(spec);
    vmle::v1::Study study;
    const grpc::Status status = SubmitOverGrpc(cluster, Request(spec), &study);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_THAT(status.error_message(), ::testing::HasSubstr(c.field));
    EXPECT_LT(status.error_message().size(), 400u) << c.field;
  }
}

TEST(BadInputTest, NanIsRefusedWhereARangeIsChecked) {
  InProcessCluster cluster;
  cluster.StartAgent();
  for (const char* option : {"gamma", "prior_weight"}) {
    for (const char* value : {"nan", "NaN", "inf"}) {
      vmle::v1::StudySpec spec = SimSpec("tpe", 4, 1);
      (*spec.mutable_planner()->mutable_options())[option] = value;
      vmle::v1::Study study;
      const grpc::Status status = SubmitOverGrpc(cluster, Request(spec), &study);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << option << "=" << value;
      EXPECT_THAT(status.error_message(), ::testing::HasSubstr(option));
    }
  }
}

TEST(BadInputTest, ARequestIdIsScopedPerCallerAndAConflictingReuseIsRefused) {
  InProcessCluster cluster;
  cluster.StartAgent();
  const vmle::v1::StudySpec spec = SimSpec("random", 3, 1);
  const std::string alice = "token:" + auth::TokenFingerprint("alice-token-0123456789abcdef");
  const std::string bob = "token:" + auth::TokenFingerprint("bob-token-0123456789abcdef00");
  ASSERT_NE(alice, bob);

  auto first = cluster.manager().Submit(Request(spec, "nightly"), alice);
  ASSERT_TRUE(first.ok()) << first.status();
  auto again = cluster.manager().Submit(Request(spec, "nightly"), alice);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->id(), first->id());

  // Another caller's request id of the same text is another study.
  auto other = cluster.manager().Submit(Request(spec, "nightly"), bob);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_NE(other->id(), first->id());

  // The same caller reusing it for a different spec is refused, and the study stays.
  vmle::v1::StudySpec changed = spec;
  changed.mutable_budget()->set_parallelism(2);
  EXPECT_THAT(cluster.manager().Submit(Request(changed, "nightly"), alice).status(),
              StatusIs(absl::StatusCode::kAlreadyExists, "request_id"));
  EXPECT_THAT(cluster.manager().Submit(Request(spec, std::string(500, 'r')), alice).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "request_id"));
  auto kept = cluster.manager().GetStudy(first->id());
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->spec().budget().parallelism(), 1);

  // Over gRPC without authentication, the caller is the host: a resubmission from
  // a second connection of the same host finds the same study.
  vmle::v1::Study over_grpc;
  ASSERT_TRUE(SubmitOverGrpc(cluster, Request(spec, "from-host"), &over_grpc).ok());
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", cluster.agent_port()),
                                     grpc::InsecureChannelCredentials());
  auto second_connection = vmle::v1::StudyService::NewStub(channel);
  vmle::v1::Study again_over_grpc;
  grpc::ClientContext context;
  ASSERT_TRUE(second_connection->SubmitStudy(&context, Request(spec, "from-host"), &again_over_grpc).ok());
  EXPECT_EQ(again_over_grpc.id(), over_grpc.id());
}

TEST(BadInputTest, AGarbagePageTokenIsRefused) {
  InProcessCluster cluster;
  cluster.StartAgent();
  auto study = cluster.manager().Submit(Request(SimSpec("random", 3, 1)));
  ASSERT_TRUE(study.ok()) << study.status();
  for (const std::string token : {"abc", "-1", "1x", "99999999999999999999999", "100000"}) {
    vmle::v1::ListStudiesRequest studies;
    studies.set_page_token(token);
    EXPECT_THAT(cluster.manager().ListStudies(studies).status(),
                StatusIs(absl::StatusCode::kInvalidArgument, "page_token"))
        << token;
    vmle::v1::ListTrialsRequest trials;
    trials.set_study_id(study->id());
    trials.set_page_token(token);
    EXPECT_THAT(cluster.manager().ListTrials(trials).status(),
                StatusIs(absl::StatusCode::kInvalidArgument, "page_token"))
        << token;
  }
  // A token the list returned still works.
  vmle::v1::ListStudiesRequest first;
  first.set_page_size(1);
  auto page = cluster.manager().ListStudies(first);
  ASSERT_TRUE(page.ok()) << page.status();
  vmle::v1::ListStudiesRequest next;
  next.set_page_token(page->next_page_token().empty() ? "0" : page->next_page_token());
  EXPECT_TRUE(cluster.manager().ListStudies(next).ok());
}

TEST(BadInputTest, AnUnknownFailureCauseIsRefusedAndTheLeaseKept) {
  InProcessCluster cluster;
  cluster.StartAgent();
  auto study = cluster.manager().Submit(Request(SimSpec("random", 1, 1)));
  ASSERT_TRUE(study.ok()) << study.status();
  vmle::v1::LeaseTrialRequest lease;
  lease.mutable_worker()->set_worker_id("w1");
  lease.set_wait_seconds(5);
  auto leased = cluster.manager().trial_queue().Lease(lease, [] { return false; });
  ASSERT_TRUE(leased.ok() && leased->has_assignment()) << leased.status();

  vmle::v1::FailTrialRequest fail;
  fail.set_trial_id(leased->assignment().trial_id());
  fail.set_lease_id(leased->assignment().lease_id());
  fail.set_error("boom");
  fail.set_failure_cause(std::string(5000, 'q'));
  const absl::Status refused = cluster.manager().trial_queue().Fail(fail);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kInvalidArgument, "failure_cause"));
  EXPECT_LT(refused.message().size(), 300u);
  fail.set_failure_cause("lease_expired");  // the agent's own cause, never a worker's
  EXPECT_THAT(cluster.manager().trial_queue().Fail(fail), StatusIs(absl::StatusCode::kInvalidArgument, "failure_cause"));

  // The lease is still valid: a known cause is accepted.
  fail.set_failure_cause("nan");
  EXPECT_TRUE(cluster.manager().trial_queue().Fail(fail).ok());
}

TEST(BadInputTest, AnOutOfRangeBackboneIsNamedByItsNumber) {
  InProcessCluster cluster;
  cluster.StartAgent();
  vmle::v1::StudySpec spec = SimSpec("random", 2, 1);
  spec.set_backbone(static_cast<vmle::v1::Backbone>(42));
  vmle::v1::Study study;
  const grpc::Status status = SubmitOverGrpc(cluster, Request(spec), &study);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("spec.backbone"));
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("unknown value 42"));
}

TEST(BadInputTest, LongPollsAndWatchesAreCappedPerCaller) {
  InProcessCluster cluster;
  cluster.StartAgent();
  StudyServiceImpl studies(&cluster.manager(), /*max_watches_per_caller=*/1);
  TrialQueueImpl queue(&cluster.manager(), /*max_long_polls_per_caller=*/2);
  int port = 0;
  std::unique_ptr<grpc::Server> server = Serve({&studies, &queue}, &port);
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  auto queue_stub = vmle::v1::TrialQueue::NewStub(channel);
  auto study_stub = vmle::v1::StudyService::NewStub(channel);

  // Two long-polls wait (no study is queued); the third is refused at once.
  std::vector<std::thread> polls;
  for (int i = 0; i < 2; ++i) {
    polls.emplace_back([&queue_stub, i] {
      grpc::ClientContext context;
      vmle::v1::LeaseTrialRequest request;
      request.mutable_worker()->set_worker_id(absl::StrCat("w", i));
      request.set_wait_seconds(4);
      vmle::v1::LeaseTrialResponse response;
      EXPECT_TRUE(queue_stub->LeaseTrial(&context, request, &response).ok());
    });
  }
  const absl::Time until = absl::Now() + absl::Seconds(3);
  grpc::Status third;
  do {  // until both polls hold their slots
    absl::SleepFor(absl::Milliseconds(50));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
    vmle::v1::LeaseTrialRequest request;
    request.mutable_worker()->set_worker_id("w-extra");
    request.set_wait_seconds(1);
    vmle::v1::LeaseTrialResponse response;
    third = queue_stub->LeaseTrial(&context, request, &response);
  } while (third.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED && absl::Now() < until);
  EXPECT_EQ(third.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(third.error_message(), ::testing::HasSubstr("--max_long_polls_per_caller"));
  for (auto& t : polls) t.join();

  // One watch of a running study streams; a second from the same caller is refused.
  auto study = cluster.manager().Submit(Request(SimSpec("random", 2, 1)));
  ASSERT_TRUE(study.ok()) << study.status();
  grpc::ClientContext first_context;
  vmle::v1::WatchStudyRequest watch;
  watch.set_study_id(study->id());
  auto first = study_stub->WatchStudy(&first_context, watch);
  vmle::v1::StudyEvent event;
  ASSERT_TRUE(first->Read(&event));  // the stream is open and holds its slot
  grpc::ClientContext second_context;
  auto second = study_stub->WatchStudy(&second_context, watch);
  EXPECT_FALSE(second->Read(&event));
  const grpc::Status refused = second->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), ::testing::HasSubstr("--max_watches_per_caller"));
  first_context.TryCancel();
  first->Finish();
  server->Shutdown();
}

TEST(CallerSlotsTest, EachCallerHasItsOwnCapAndSlotsAreReleased) {
  CallerSlots slots(2, "things", "--max_things");
  {
    auto a1 = slots.Acquire("a");
    auto a2 = slots.Acquire("a");
    ASSERT_TRUE(a1.ok() && a2.ok());
    EXPECT_THAT(slots.Acquire("a").status(), StatusIs(absl::StatusCode::kResourceExhausted, "--max_things"));
    EXPECT_TRUE(slots.Acquire("b").ok());
    EXPECT_EQ(slots.Open("a"), 2);
  }
  EXPECT_EQ(slots.Open("a"), 0);
  EXPECT_TRUE(slots.Acquire("a").ok());
}

}  // namespace
}  // namespace vmle::agent::testing
