// Real processes with authentication and TLS: vmle-memory (TLS, client certificates
// required, tokens), vmle-agent (TLS, tokens; a client certificate and the agent
// token towards memory) and vmle-sim-worker (TLS, worker token). A study runs end
// to end; every service refuses calls without a token, with an unknown token and
// with a token of the wrong role; health stays open.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/auth/client_channel.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tests/util/subprocess.h"
#include "vmle/v1/memory_service.grpc.pb.h"
#include "vmle/v1/study_service.grpc.pb.h"
#include "vmle/v1/trial_queue.grpc.pb.h"

namespace vmle {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::string Bin(const std::string& path) { return std::string(VMLE_BINARY_DIR) + "/" + path; }

constexpr char kSubmitter[] = "submitter-aaaaaaaaaaaaaaaa";
constexpr char kViewer[] = "viewer-bbbbbbbbbbbbbbbbbbbb";
constexpr char kWorker[] = "worker-cccccccccccccccccccc";
constexpr char kAgent[] = "agent-dddddddddddddddddddd";

class AuthClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    tls_ = dir_ + "/tls";
    const std::string make_ca = absl::StrCat(VMLE_SOURCE_DIR, "/scripts/make-test-ca.sh ", tls_, " >/dev/null");
    ASSERT_EQ(std::system(make_ca.c_str()), 0) << make_ca;
    std::ofstream(dir_ + "/tokens") << "submitter " << kSubmitter << "\nviewer " << kViewer << "\nworker "
                                    << kWorker << "\nagent " << kAgent << "\n";
    std::ofstream(dir_ + "/agent.token") << kAgent << "\n";
    std::ofstream(dir_ + "/worker.token") << kWorker << "\n";

    Start("memory", "services/memory/vmle-memory",
          {"--db=" + dir_ + "/db", "--tls_client_ca=" + tls_ + "/ca.pem"}, &memory_, &memory_port_);
    Start("agent", "services/agent/vmle-agent",
          {absl::StrCat("--memory=localhost:", memory_port_), "--memory_auth_token_file=" + dir_ + "/agent.token",
           "--memory_tls_ca=" + tls_ + "/ca.pem", "--memory_tls_cert=" + tls_ + "/client.pem",
           "--memory_tls_key=" + tls_ + "/client.key", "--lease_seconds=10", "--heartbeat_seconds=2"},
          &agent_, &agent_port_);
  }

  // Starts a service with TLS and the tokens file; waits for its ready file.
  void Start(const std::string& name, const std::string& binary, std::vector<std::string> flags,
             std::optional<testing::Subprocess>* slot, int* port) {
    std::vector<std::string> argv = {Bin(binary),
                                     "--listen=127.0.0.1:0",
                                     "--metrics=off",
                                     "--auth_tokens_file=" + dir_ + "/tokens",
                                     "--tls_cert=" + tls_ + "/server.pem",
                                     "--tls_key=" + tls_ + "/server.key"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto service = testing::StartService(argv, dir_, name, 60s);
    ASSERT_TRUE(service.ok()) << service.status();
    slot->emplace(std::move(service->process));
    *port = service->ready.grpc_port;
  }

  testing::Subprocess StartSimWorkers(int n) {
    auto process = testing::Subprocess::Start(
        {Bin("services/sim/vmle-sim-worker"), absl::StrCat("--agent=localhost:", agent_port_),
         absl::StrCat("--workers=", n), "--epoch_ms=5", "--worker_id_prefix=tls",
         "--agent_auth_token_file=" + dir_ + "/worker.token", "--agent_tls_ca=" + tls_ + "/ca.pem"},
        dir_ + "/sim.log");
    EXPECT_TRUE(process.ok()) << process.status();
    return std::move(*process);
  }

  // A TLS channel to the agent or memory presenting `token` ("" for none); with the
  // client certificate when `client_cert`.
  std::shared_ptr<grpc::Channel> Channel(int port, const std::string& token, bool client_cert = false) {
    auth::ClientSecurity security;
    security.tls = true;
    security.ca_pem = testing::ReadTextFile(tls_ + "/ca.pem");
    if (client_cert) {
      security.cert_pem = testing::ReadTextFile(tls_ + "/client.pem");
      security.key_pem = testing::ReadTextFile(tls_ + "/client.key");
    }
    security.token = token;
    return auth::MakeClientChannel(absl::StrCat("localhost:", port), security);
  }

  // Calls `method` on a fresh stub, retrying while the agent is still loading.
  template <typename Stub, typename Request, typename Response, typename Method>
  grpc::Status Call(Stub& stub, Method method, const Request& request, Response* response) {
    grpc::Status status;
    for (int i = 0; i < 100; ++i) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + 10s);
      status = (stub.*method)(&context, request, response);
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return status;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return status;
  }

  grpc::Status GetStudyWith(const std::string& token) {
    auto stub = vmle::v1::StudyService::NewStub(Channel(agent_port_, token));
    vmle::v1::GetStudyRequest request;
    request.set_study_id("no-such-study");
    vmle::v1::Study study;
    return Call(*stub, &vmle::v1::StudyService::Stub::GetStudy, request, &study);
  }

  std::string dir_, tls_;
  std::optional<testing::Subprocess> memory_, agent_;
  int memory_port_ = 0, agent_port_ = 0;
};

vmle::v1::SubmitStudyRequest SmallStudy() {
  vmle::v1::SubmitStudyRequest request;
  auto* spec = request.mutable_spec();
  spec->set_name("tls");
  spec->mutable_dataset()->set_format(vmle::v1::DATASET_FORMAT_SYNTHETIC);
  spec->mutable_dataset()->set_name("sim-beauty");
  spec->mutable_budget()->set_max_trials(4);
  spec->mutable_budget()->set_parallelism(2);
  spec->mutable_planner()->set_name("random_default");
  return request;
}

TEST_F(AuthClusterTest, StudyRunsEndToEndOverTlsWithTokens) {
  testing::Subprocess workers = StartSimWorkers(2);
  auto submitter = vmle::v1::StudyService::NewStub(Channel(agent_port_, kSubmitter));
  vmle::v1::Study study;
  const grpc::Status submitted = Call(*submitter, &vmle::v1::StudyService::Stub::SubmitStudy, SmallStudy(), &study);
  ASSERT_TRUE(submitted.ok()) << submitted.error_message() << testing::ReadTextFile(dir_ + "/agent.log");

  // A viewer watches it to the end.
  auto viewer = vmle::v1::StudyService::NewStub(Channel(agent_port_, kViewer));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 120s);
  vmle::v1::WatchStudyRequest watch;
  watch.set_study_id(study.id());
  auto reader = viewer->WatchStudy(&context, watch);
  vmle::v1::StudyEvent event, last;
  while (reader->Read(&event)) last = event;
  const grpc::Status watched = reader->Finish();
  ASSERT_TRUE(watched.ok()) << watched.error_message() << testing::ReadTextFile(dir_ + "/sim.log");
  EXPECT_EQ(last.type(), vmle::v1::StudyEvent::TYPE_STUDY_FINISHED);

  vmle::v1::GetStudyRequest get;
  get.set_study_id(study.id());
  vmle::v1::Study done;
  ASSERT_TRUE(Call(*viewer, &vmle::v1::StudyService::Stub::GetStudy, get, &done).ok());
  EXPECT_EQ(done.state(), vmle::v1::STUDY_STATE_SUCCEEDED);
  EXPECT_EQ(done.trials_succeeded(), 4);

  // What the agent wrote went to memory over mutual TLS with the agent token.
  auto memory = vmle::v1::MemoryService::NewStub(Channel(memory_port_, kAgent, /*client_cert=*/true));
  vmle::v1::ListTrialRecordsRequest list;
  list.set_study_id(study.id());
  vmle::v1::ListTrialRecordsResponse trials;
  ASSERT_TRUE(Call(*memory, &vmle::v1::MemoryService::Stub::ListTrials, list, &trials).ok());
  EXPECT_EQ(trials.trials_size(), 4);
  EXPECT_THAT(testing::ReadTextFile(dir_ + "/agent.log"), ::testing::Not(HasSubstr(kAgent)))
      << "tokens are never logged";
}

TEST_F(AuthClusterTest, StudyServiceRefusesMissingUnknownAndWrongRoleTokens) {
  const grpc::Status none = GetStudyWith("");
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED) << none.error_message();
  EXPECT_THAT(none.error_message(), HasSubstr("Bearer"));
  EXPECT_EQ(GetStudyWith("guessed-token-eeeeeeeeeeee").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(GetStudyWith(kWorker).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(GetStudyWith(kAgent).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(GetStudyWith(kViewer).error_code(), grpc::StatusCode::NOT_FOUND) << "viewers may read";

  auto viewer = vmle::v1::StudyService::NewStub(Channel(agent_port_, kViewer));
  vmle::v1::Study study;
  const grpc::Status submit = Call(*viewer, &vmle::v1::StudyService::Stub::SubmitStudy, SmallStudy(), &study);
  EXPECT_EQ(submit.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(submit.error_message(), HasSubstr("needs submitter"));
  vmle::v1::CancelStudyRequest cancel;
  cancel.set_study_id("no-such-study");
  EXPECT_EQ(Call(*viewer, &vmle::v1::StudyService::Stub::CancelStudy, cancel, &study).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(AuthClusterTest, TrialQueueAdmitsWorkersOnly) {
  for (const auto& [token, code] : std::vector<std::pair<std::string, grpc::StatusCode>>{
           {"", grpc::StatusCode::UNAUTHENTICATED},
           {"guessed-token-eeeeeeeeeeee", grpc::StatusCode::UNAUTHENTICATED},
           {kSubmitter, grpc::StatusCode::PERMISSION_DENIED},
           {kViewer, grpc::StatusCode::PERMISSION_DENIED}}) {
    auto queue = vmle::v1::TrialQueue::NewStub(Channel(agent_port_, token));
    vmle::v1::HeartbeatRequest request;
    vmle::v1::HeartbeatResponse response;
    EXPECT_EQ(Call(*queue, &vmle::v1::TrialQueue::Stub::Heartbeat, request, &response).error_code(), code)
        << "token '" << token << "'";
  }
  auto queue = vmle::v1::TrialQueue::NewStub(Channel(agent_port_, kWorker));
  vmle::v1::HeartbeatRequest request;
  vmle::v1::HeartbeatResponse response;
  const grpc::Status status = Call(*queue, &vmle::v1::TrialQueue::Stub::Heartbeat, request, &response);
  EXPECT_NE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(AuthClusterTest, MemoryServiceAdmitsTheAgentOnlyAndOnlyWithACertificate) {
  for (const auto& [token, code] : std::vector<std::pair<std::string, grpc::StatusCode>>{
           {"", grpc::StatusCode::UNAUTHENTICATED},
           {"guessed-token-eeeeeeeeeeee", grpc::StatusCode::UNAUTHENTICATED},
           {kSubmitter, grpc::StatusCode::PERMISSION_DENIED},
           {kWorker, grpc::StatusCode::PERMISSION_DENIED},
           {kAgent, grpc::StatusCode::OK}}) {
    auto memory = vmle::v1::MemoryService::NewStub(Channel(memory_port_, token, /*client_cert=*/true));
    vmle::v1::ListStudyRecordsRequest request;
    vmle::v1::ListStudyRecordsResponse response;
    EXPECT_EQ(Call(*memory, &vmle::v1::MemoryService::Stub::ListStudies, request, &response).error_code(), code)
        << "token '" << token << "'";
  }
  // Without a client certificate the TLS handshake itself fails.
  auto anonymous = vmle::v1::MemoryService::NewStub(Channel(memory_port_, kAgent, /*client_cert=*/false));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 5s);
  vmle::v1::ListStudyRecordsResponse response;
  EXPECT_EQ(anonymous->ListStudies(&context, {}, &response).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(AuthClusterTest, HealthNeedsNoTokenButPlaintextIsRefused) {
  for (int port : {memory_port_, agent_port_}) {
    auto health = grpc::health::v1::Health::NewStub(Channel(port, "", /*client_cert=*/true));
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckResponse response;
    const grpc::Status status = health->Check(&context, {}, &response);
    ASSERT_TRUE(status.ok()) << port << ": " << status.error_message();
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }
  auto plaintext = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", agent_port_), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 5s);
  grpc::health::v1::HealthCheckResponse response;
  EXPECT_EQ(plaintext->Check(&context, {}, &response).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST(AuthStartupTest, AServiceWithAnUnusableTokensFileRefusesToStart) {
  const std::string dir = testing::MakeTempDir();
  std::ofstream(dir + "/tokens") << "# every token was deleted\n";
  auto process = testing::Subprocess::Start(
      {Bin("services/memory/vmle-memory"), "--listen=127.0.0.1:0", "--metrics=off", "--db=" + dir + "/db",
       "--auth_tokens_file=" + dir + "/tokens"},
      dir + "/memory.log");
  ASSERT_TRUE(process.ok());
  const std::optional<int> status = process->Wait(30s);
  ASSERT_TRUE(status.has_value()) << "still running";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1);
  EXPECT_THAT(testing::ReadTextFile(dir + "/memory.log"), HasSubstr("holds no token"));
}

}  // namespace
}  // namespace vmle
