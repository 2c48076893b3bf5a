// Fault tests with real processes: vmle-memory, vmle-agent and vmle-sim-worker
// started as a user would, then killed or restarted mid-study. Every study must end
// with each trial accounted for exactly once.
#include <signal.h>

#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tests/util/subprocess.h"
#include "vmle/v1/study_service.grpc.pb.h"

namespace vmle {
namespace {

using namespace std::chrono_literals;
using vmle::v1::StudyEvent;

std::string Bin(const std::string& path) { return std::string(VMLE_BINARY_DIR) + "/" + path; }

class FaultTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir(); }

  // Starts a service into `slot` and waits for its ready file; `port` 0 picks one.
  void StartService(const std::string& name, const std::string& binary, int port, std::vector<std::string> flags,
                    int* bound_port, std::optional<testing::Subprocess>* slot) {
    slot->reset();
    std::vector<std::string> argv = {Bin(binary), absl::StrCat("--listen=127.0.0.1:", port), "--metrics=off",
                                     "--shutdown_grace_seconds=2"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto service = testing::StartService(argv, dir_, name, 30s);
    ASSERT_TRUE(service.ok()) << service.status();
    slot->emplace(std::move(service->process));
    *bound_port = service->ready.grpc_port;
  }

  void StartMemory() {
    StartService("memory", "services/memory/vmle-memory", memory_port_, {"--db=" + dir_ + "/db"}, &memory_port_,
                 &memory_);
  }
  // Short leases by default, so that a killed worker's trial is leased again quickly.
  void StartAgent(int lease_seconds = 3) {
    StartService("agent", "services/agent/vmle-agent", agent_port_,
                 {absl::StrCat("--memory=127.0.0.1:", memory_port_), absl::StrCat("--lease_seconds=", lease_seconds),
                  "--heartbeat_seconds=1"},
                 &agent_port_, &agent_);
    studies_ = vmle::v1::StudyService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", agent_port_), grpc::InsecureChannelCredentials()));
  }
  testing::Subprocess StartWorkers(const std::string& prefix, int n, int epoch_ms) {
    auto process = testing::Subprocess::Start(
        {Bin("services/sim/vmle-sim-worker"), absl::StrCat("--agent=127.0.0.1:", agent_port_),
         absl::StrCat("--workers=", n), absl::StrCat("--epoch_ms=", epoch_ms), "--worker_id_prefix=" + prefix},
        absl::StrCat(dir_, "/", prefix, ".log"));
    EXPECT_TRUE(process.ok());
    return std::move(*process);
  }

  // Retries while the agent is unreachable or still loading.
  template <typename Request, typename Response, typename Method>
  grpc::Status Call(Method method, const Request& request, Response* response) {
    grpc::Status status;
    for (int i = 0; i < 300; ++i) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + 10s);
      status = (studies_.get()->*method)(&context, request, response);
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return status;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return status;
  }

  std::string Submit(int trials, int parallelism, int epochs = 0) {
    vmle::v1::SubmitStudyRequest request;
    auto* spec = request.mutable_spec();
    spec->mutable_dataset()->set_format(vmle::v1::DATASET_FORMAT_SYNTHETIC);
    spec->mutable_dataset()->set_name("sim-beauty");
    spec->mutable_budget()->set_max_trials(trials);
    spec->mutable_budget()->set_parallelism(parallelism);
    spec->mutable_planner()->set_name("random");
    // These tests are about faults, not tuning: an lr the simulated objective never
    // diverges at keeps every trial a success, whatever the random draws.
    auto* fixed = spec->mutable_fixed()->mutable_values();
    (*fixed)["lr"].set_float_value(1e-3);
    if (epochs > 0) {
      (*fixed)["max_epochs"].set_int_value(epochs);
      (*fixed)["early_stop_patience"].set_int_value(10);
    }
    vmle::v1::Study study;
    const grpc::Status status = Call(&vmle::v1::StudyService::Stub::SubmitStudy, request, &study);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return study.id();
  }

  vmle::v1::Study Get(const std::string& id) {
    vmle::v1::GetStudyRequest request;
    request.set_study_id(id);
    vmle::v1::Study study;
    const grpc::Status status = Call(&vmle::v1::StudyService::Stub::GetStudy, request, &study);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return study;
  }

  void WaitUntil(const std::string& id, const std::function<bool(const vmle::v1::Study&)>& done,
                 absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!done(Get(id))) {
      ASSERT_LT(absl::Now(), deadline) << Get(id).DebugString() << testing::ReadTextFile(dir_ + "/agent.log");
      absl::SleepFor(absl::Milliseconds(50));
    }
  }

  static bool Ended(const vmle::v1::Study& s) {
    return s.state() == vmle::v1::STUDY_STATE_SUCCEEDED && s.trials_running() == 0;
  }

  // Each trial once, numbered 1..n, finished (or, where `divergence_allowed`, failed
  // with a simulated non-finite loss); one finishing event per trial.
  void ExpectAccountedOnce(const std::string& id, int trials, bool divergence_allowed = false) {
    vmle::v1::ListTrialsRequest list;
    list.set_study_id(id);
    list.set_page_size(1000);
    vmle::v1::ListTrialsResponse response;
    ASSERT_TRUE(Call(&vmle::v1::StudyService::Stub::ListTrials, list, &response).ok());
    ASSERT_EQ(response.trials_size(), trials);
    for (int i = 0; i < trials; ++i) {
      EXPECT_EQ(response.trials(i).number(), i + 1);
      const vmle::v1::Trial& t = response.trials(i);
      if (divergence_allowed && t.status() == vmle::v1::TRIAL_STATUS_FAILED && t.failure_cause() == "nan") continue;
      EXPECT_EQ(t.status(), vmle::v1::TRIAL_STATUS_SUCCEEDED) << t.DebugString();
    }
    grpc::ClientContext context;
    vmle::v1::WatchStudyRequest watch;
    watch.set_study_id(id);
    auto reader = studies_->WatchStudy(&context, watch);
    StudyEvent event;
    std::map<std::string, int> finished;
    int64_t sequence = 0;
    while (reader->Read(&event)) {
      EXPECT_EQ(event.sequence(), ++sequence);
      if (event.type() == StudyEvent::TYPE_TRIAL_FINISHED ||
          (divergence_allowed && event.type() == StudyEvent::TYPE_TRIAL_FAILED)) {
        ++finished[event.trial_id()];
      }
    }
    EXPECT_TRUE(reader->Finish().ok());
    EXPECT_EQ(static_cast<int>(finished.size()), trials);
    for (const auto& [trial, n] : finished) EXPECT_EQ(n, 1) << trial;
  }

  std::string dir_;
  int memory_port_ = 0;
  int agent_port_ = 0;
  std::optional<testing::Subprocess> memory_;
  std::optional<testing::Subprocess> agent_;
  std::unique_ptr<vmle::v1::StudyService::Stub> studies_;
};

TEST_F(FaultTest, WorkerKilledMidTrialItsTrialIsLeasedAgainAndTheStudyCompletes) {
  StartMemory();
  StartAgent();
  ASSERT_TRUE(agent_.has_value());
  auto doomed = StartWorkers("doomed", 2, 300);
  const std::string id = Submit(8, 2);
  WaitUntil(id, [](const vmle::v1::Study& s) { return s.trials_running() == 2; }, absl::Seconds(30));
  doomed.Signal(SIGKILL);
  doomed.Wait(5000ms);
  auto survivor = StartWorkers("survivor", 2, 20);
  WaitUntil(id, Ended, absl::Seconds(90));
  ExpectAccountedOnce(id, 8);
  vmle::v1::ListTrialsRequest list;
  list.set_study_id(id);
  vmle::v1::ListTrialsResponse response;
  ASSERT_TRUE(Call(&vmle::v1::StudyService::Stub::ListTrials, list, &response).ok());
  int retried = 0;
  for (const auto& t : response.trials()) retried += t.attempts() > 1;
  EXPECT_EQ(retried, 2);
}

TEST_F(FaultTest, AgentKilledMidStudyContinuesAfterRestartWithNoTrialLostOrDuplicated) {
  StartMemory();
  StartAgent();
  ASSERT_TRUE(agent_.has_value());
  auto workers = StartWorkers("w", 3, 30);
  const std::string id = Submit(24, 3);
  WaitUntil(id, [](const vmle::v1::Study& s) { return s.trials_succeeded() >= 6; }, absl::Seconds(60));
  agent_->Signal(SIGKILL);
  agent_->Wait(5000ms);
  agent_.reset();
  StartAgent();  // same port: the workers reconnect by themselves
  ASSERT_TRUE(agent_.has_value());
  WaitUntil(id, Ended, absl::Seconds(120));
  ExpectAccountedOnce(id, 24);
}

TEST_F(FaultTest, MemoryServiceRestartedTheAgentRetriesAndCarriesOn) {
  StartMemory();
  StartAgent();
  ASSERT_TRUE(memory_.has_value() && agent_.has_value());
  auto workers = StartWorkers("w", 2, 30);
  const std::string id = Submit(16, 2);
  WaitUntil(id, [](const vmle::v1::Study& s) { return s.trials_succeeded() >= 4; }, absl::Seconds(60));
  memory_->Signal(SIGTERM);
  ASSERT_TRUE(memory_->Wait(10000ms).has_value());
  memory_.reset();
  absl::SleepFor(absl::Seconds(1));
  StartMemory();  // same port, same database
  ASSERT_TRUE(memory_.has_value());
  WaitUntil(id, Ended, absl::Seconds(120));
  ExpectAccountedOnce(id, 16);
}

// Readiness follows the system of record: a memory service that stops answering
// (SIGSTOP) turns the agent's health NOT_SERVING, and SERVING again once it answers;
// the study then completes with every trial once.
TEST_F(FaultTest, MemoryStalledTheAgentReportsNotServingAndRecovers) {
  StartMemory();
  StartAgent();
  ASSERT_TRUE(memory_.has_value() && agent_.has_value());
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", agent_port_), grpc::InsecureChannelCredentials()));
  auto status_now = [&] {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 2s);
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    const grpc::Status status = health->Check(&context, request, &response);
    EXPECT_TRUE(status.ok()) << "health must answer within 2 s: " << status.error_message();
    return response.status();
  };
  auto wait_for = [&](grpc::health::v1::HealthCheckResponse::ServingStatus wanted) {
    const absl::Time deadline = absl::Now() + absl::Seconds(15);
    while (status_now() != wanted) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(200));
    }
    return true;
  };
  ASSERT_TRUE(wait_for(grpc::health::v1::HealthCheckResponse::SERVING));
  auto workers = StartWorkers("w", 4, 30);
  const std::string id = Submit(16, 4);
  WaitUntil(id, [](const vmle::v1::Study& s) { return s.trials_succeeded() >= 2; }, absl::Seconds(60));

  memory_->Signal(SIGSTOP);
  EXPECT_TRUE(wait_for(grpc::health::v1::HealthCheckResponse::NOT_SERVING));
  memory_->Signal(SIGCONT);
  EXPECT_TRUE(wait_for(grpc::health::v1::HealthCheckResponse::SERVING));
  WaitUntil(id, Ended, absl::Seconds(120));
  ExpectAccountedOnce(id, 16);
}

// A memory service that hangs (SIGSTOP) for 20 s in the middle of a study with 32
// workers does not freeze the agent: GetStudy (of the running study and of an
// unrelated finished one), ListStudies and Health each answer within 2 s throughout,
// from the state the agent holds or with UNAVAILABLE. No worker loses its lease, and
// after SIGCONT the study completes with every trial once; a new agent reading the
// memory service then finds every result the workers were told was stored.
TEST_F(FaultTest, MemoryHungFor20SecondsEveryCallStillAnswersAndNoAcknowledgedWriteIsLost) {
  StartMemory();
  StartAgent(/*lease_seconds=*/60);
  ASSERT_TRUE(memory_.has_value() && agent_.has_value());
  auto workers = StartWorkers("w", 32, 20);
  const std::string finished = Submit(2, 2);
  WaitUntil(finished, Ended, absl::Seconds(60));
  constexpr int kTrials = 160;
  const std::string id = Submit(kTrials, 32, 20);
  ASSERT_FALSE(id.empty());
  WaitUntil(id, [](const vmle::v1::Study& s) { return s.trials_succeeded() >= 8; }, absl::Seconds(60));

  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", agent_port_), grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  auto timed = [](const char* what, const std::function<grpc::Status(grpc::ClientContext*)>& call) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 2s);
    const absl::Time start = absl::Now();
    const grpc::Status status = call(&context);
    EXPECT_NE(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
        << what << " must answer within 2 s; took " << absl::FormatDuration(absl::Now() - start);
    EXPECT_TRUE(status.ok() || status.error_code() == grpc::StatusCode::UNAVAILABLE)
        << what << ": " << status.error_message();
    return status;
  };
  memory_->Signal(SIGSTOP);
  const absl::Time resume_at = absl::Now() + absl::Seconds(20);
  int rounds = 0, not_serving = 0;
  while (absl::Now() < resume_at) {
    for (const std::string& study : {id, finished}) {
      vmle::v1::GetStudyRequest request;
      request.set_study_id(study);
      vmle::v1::Study got;
      // Both are held by the agent: they answer from its state.
      EXPECT_TRUE(timed("GetStudy", [&](grpc::ClientContext* c) { return studies_->GetStudy(c, request, &got); }).ok());
    }
    vmle::v1::ListStudiesRequest list;
    vmle::v1::ListStudiesResponse listed;
    timed("ListStudies", [&](grpc::ClientContext* c) { return studies_->ListStudies(c, list, &listed); });
    grpc::health::v1::HealthCheckRequest check;
    grpc::health::v1::HealthCheckResponse checked;
    timed("Health/Check", [&](grpc::ClientContext* c) { return health->Check(c, check, &checked); });
    not_serving += checked.status() == grpc::health::v1::HealthCheckResponse::NOT_SERVING;
    ++rounds;
    absl::SleepFor(absl::Milliseconds(250));
  }
  memory_->Signal(SIGCONT);
  EXPECT_GT(rounds, 10);
  EXPECT_GT(not_serving, 0);
  WaitUntil(id, Ended, absl::Seconds(120));
  ExpectAccountedOnce(id, kTrials, /*divergence_allowed=*/true);

  // Every CompleteTrial a worker was answered OK for is a stored result, and no worker
  // lost a lease it held.
  workers.Signal(SIGTERM);
  ASSERT_TRUE(workers.Wait(60000ms).has_value());
  const std::string log = testing::ReadTextFile(dir_ + "/w.log");
  EXPECT_THAT(log, ::testing::HasSubstr("trials_abandoned=0 ")) << log.substr(log.size() - 2000);
  agent_->Signal(SIGKILL);
  ASSERT_TRUE(agent_->Wait(10000ms).has_value());
  agent_.reset();
  agent_port_ = 0;
  StartAgent();
  ASSERT_TRUE(agent_.has_value());
  ExpectAccountedOnce(id, kTrials, /*divergence_allowed=*/true);
  EXPECT_EQ(Get(id).trials_succeeded() + Get(id).trials_failed(), kTrials);
  EXPECT_EQ(Get(finished).state(), vmle::v1::STUDY_STATE_SUCCEEDED);
}

}  // namespace
}  // namespace vmle
