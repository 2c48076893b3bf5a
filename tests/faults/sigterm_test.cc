// SIGTERM to every service in the middle of a study, with real processes
// (vmle-memory, vmle-agent, vmle-worker training on synthetic data):
//   * the worker exits 0 at once and hands its running trial back (FailTrial,
//     retryable), so the trial is queued again long before its 120 s lease would
//     have expired;
//   * the agent exits 0, and a new agent finds the study and its trials as they were
//     (state lives in the memory service);
//   * the memory service exits 0 with everything acknowledged on disk; restarted on
//     the same directory it serves the study again and the agent, which kept
//     running, writes through it (a cancel) once it is back.
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <functional>
#include <optional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tests/util/subprocess.h"
#include "vmle/v1/memory_service.grpc.pb.h"
#include "vmle/v1/study_service.grpc.pb.h"

namespace vmle {
namespace {

using namespace std::chrono_literals;

std::string Bin(const std::string& path) { return std::string(VMLE_BINARY_DIR) + "/" + path; }

class SigtermTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir(); }

  // Starts a service on `port` (0: any) and waits for its ready file.
  testing::Subprocess Start(const std::string& name, const std::string& binary, int* port,
                            std::vector<std::string> flags) {
    std::vector<std::string> argv = {Bin(binary), absl::StrCat("--listen=127.0.0.1:", *port), "--metrics=off",
                                     "--shutdown_grace_seconds=10"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto service = testing::StartService(argv, dir_, name, 60s);
    if (!service.ok()) {
      ADD_FAILURE() << service.status();
      std::abort();  // the test cannot go on without the service
    }
    *port = service->ready.grpc_port;
    return std::move(service->process);
  }
  testing::Subprocess StartMemory() {
    return Start("memory", "services/memory/vmle-memory", &memory_port_, {"--db=" + dir_ + "/db"});
  }
  testing::Subprocess StartAgent() {
    agent_port_ = 0;
    testing::Subprocess agent =
        Start("agent", "services/agent/vmle-agent", &agent_port_,
              {absl::StrCat("--memory=127.0.0.1:", memory_port_), "--lease_seconds=120", "--heartbeat_seconds=2"});
    studies_ = vmle::v1::StudyService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", agent_port_), grpc::InsecureChannelCredentials()));
    return agent;
  }

  // SIGTERM, then the exit status within `timeout`; expects a clean exit 0.
  void Terminate(testing::Subprocess& process, const std::string& name) {
    const absl::Time start = absl::Now();
    process.Signal(SIGTERM);
    const std::optional<int> status = process.Wait(30s);
    ASSERT_TRUE(status.has_value()) << name << " still running 30 s after SIGTERM";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << name << " status " << *status << testing::ReadTextFile(absl::StrCat(dir_, "/", name, ".log"));
    EXPECT_LT(absl::Now() - start, absl::Seconds(15)) << name << " took too long to stop";
  }

  // The study's trials through the agent, retrying while it is unavailable.
  std::vector<vmle::v1::Trial> Trials(const std::string& id) {
    for (int i = 0; i < 300; ++i) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + 5s);
      vmle::v1::ListTrialsRequest request;
      request.set_study_id(id);
      vmle::v1::ListTrialsResponse response;
      const grpc::Status status = studies_->ListTrials(&context, request, &response);
      if (status.ok()) return {response.trials().begin(), response.trials().end()};
      absl::SleepFor(absl::Milliseconds(100));
    }
    ADD_FAILURE() << "ListTrials never answered";
    return {};
  }

  // Polls until the study's first trial satisfies `done`, or `timeout` passes.
  bool WaitForFirstTrial(const std::string& id, const std::function<bool(const vmle::v1::Trial&)>& done,
                         absl::Duration timeout) {
    for (const absl::Time end = absl::Now() + timeout; absl::Now() < end;) {
      const std::vector<vmle::v1::Trial> trials = Trials(id);
      if (!trials.empty() && done(trials.front())) return true;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return false;
  }

  std::string dir_;
  int memory_port_ = 0, agent_port_ = 0;
  std::unique_ptr<vmle::v1::StudyService::Stub> studies_;
};

TEST_F(SigtermTest, EveryServiceStopsCleanlyMidStudyAndNothingIsLost) {
  std::optional<testing::Subprocess> memory(StartMemory());
  std::optional<testing::Subprocess> agent(StartAgent());
  std::filesystem::create_directories(dir_ + "/data");
  int worker_port = 0;
  testing::Subprocess worker =
      Start("worker", "services/trainer/worker/vmle-worker", &worker_port,
            {absl::StrCat("--agent=127.0.0.1:", agent_port_), "--data_root=" + dir_ + "/data", "--threads=1",
             "--worker_id=sigterm-worker", "--lease_wait_seconds=2"});

  vmle::v1::SubmitStudyRequest submit;
  auto* spec = submit.mutable_spec();
  spec->mutable_dataset()->set_format(vmle::v1::DATASET_FORMAT_SYNTHETIC);
  spec->mutable_budget()->set_max_trials(2);
  spec->mutable_planner()->set_name("random_default");
  auto& fixed = *spec->mutable_fixed()->mutable_values();
  fixed["max_epochs"].set_int_value(200);
  fixed["early_stop_patience"].set_int_value(10);
  fixed["hidden_dim"].set_int_value(16);
  vmle::v1::Study study;
  grpc::Status submitted;
  for (int i = 0; i < 100; ++i) {
    grpc::ClientContext context;
    submitted = studies_->SubmitStudy(&context, submit, &study);
    if (submitted.error_code() != grpc::StatusCode::UNAVAILABLE) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(submitted.ok()) << submitted.error_message();

  // The worker, mid-trial (an epoch reported): exits at once, hands the trial back.
  ASSERT_TRUE(WaitForFirstTrial(
      study.id(), [](const vmle::v1::Trial& t) { return t.status() == vmle::v1::TRIAL_STATUS_RUNNING && t.epochs_size() > 0; },
      absl::Seconds(120)))
      << testing::ReadTextFile(dir_ + "/worker.log");
  Terminate(worker, "worker");
  EXPECT_TRUE(WaitForFirstTrial(
      study.id(), [](const vmle::v1::Trial& t) { return t.status() == vmle::v1::TRIAL_STATUS_QUEUED; },
      absl::Seconds(10)))
      << "the trial was not handed back (its lease is 120 s)" << testing::ReadTextFile(dir_ + "/agent.log");

  // The agent: a new one finds the study and its trial as they were.
  Terminate(*agent, "agent");
  agent.emplace(StartAgent());
  std::vector<vmle::v1::Trial> trials = Trials(study.id());
  ASSERT_FALSE(trials.empty());
  EXPECT_EQ(trials.front().status(), vmle::v1::TRIAL_STATUS_QUEUED);
  EXPECT_EQ(trials.front().attempts(), 1);

  // The memory service: restarted on the same directory (and port), it serves the
  // study; the agent writes through it again.
  Terminate(*memory, "memory");
  memory.emplace(StartMemory());
  auto records = vmle::v1::MemoryService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", memory_port_), grpc::InsecureChannelCredentials()));
  grpc::ClientContext get_context;
  vmle::v1::GetStudyRecordRequest get;
  get.set_study_id(study.id());
  vmle::v1::Study stored;
  ASSERT_TRUE(records->GetStudy(&get_context, get, &stored).ok());
  EXPECT_EQ(stored.state(), vmle::v1::STUDY_STATE_RUNNING);

  grpc::Status cancelled;
  vmle::v1::Study after;
  for (int i = 0; i < 100; ++i) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    vmle::v1::CancelStudyRequest cancel;
    cancel.set_study_id(study.id());
    cancelled = studies_->CancelStudy(&context, cancel, &after);
    if (cancelled.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(cancelled.ok()) << cancelled.error_message() << testing::ReadTextFile(dir_ + "/agent.log");
  EXPECT_EQ(after.state(), vmle::v1::STUDY_STATE_CANCELLED);
  Terminate(*agent, "agent");
  Terminate(*memory, "memory");
}

}  // namespace
}  // namespace vmle
