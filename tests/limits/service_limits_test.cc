// Limits of the running services: the largest request (--max_receive_message_bytes,
// on every server through ServiceHost) and the agent's studies at once
// (--max_active_studies). Real vmle-memory and vmle-agent processes, no workers, so
// submitted studies stay pending.
#include <future>
#include <optional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
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

class ServiceLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    Start("memory", "services/memory/vmle-memory", {"--db=" + dir_ + "/db"}, &memory_, &memory_port_);
    Start("agent", "services/agent/vmle-agent",
          {absl::StrCat("--memory=127.0.0.1:", memory_port_), "--max_active_studies=2"}, &agent_, &agent_port_);
    studies_ = vmle::v1::StudyService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", agent_port_), grpc::InsecureChannelCredentials()));
  }

  void Start(const std::string& name, const std::string& binary, std::vector<std::string> flags,
             std::optional<testing::Subprocess>* slot, int* port) {
    std::vector<std::string> argv = {Bin(binary), "--listen=127.0.0.1:0", "--metrics=off",
                                     "--max_receive_message_bytes=65536"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto service = testing::StartService(argv, dir_, name, 60s);
    ASSERT_TRUE(service.ok()) << service.status();
    slot->emplace(std::move(service->process));
    *port = service->ready.grpc_port;
  }

  grpc::Status Submit(const std::string& name, vmle::v1::Study* study) {
    vmle::v1::SubmitStudyRequest request;
    request.mutable_spec()->set_name(name);
    request.mutable_spec()->mutable_dataset()->set_format(vmle::v1::DATASET_FORMAT_SYNTHETIC);
    request.mutable_spec()->mutable_budget()->set_max_trials(3);
    request.mutable_spec()->mutable_planner()->set_name("random");
    grpc::Status status;
    for (int i = 0; i < 100; ++i) {  // UNAVAILABLE while the agent loads
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + 10s);
      status = studies_->SubmitStudy(&context, request, study);
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return status;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return status;
  }

  std::string dir_;
  std::optional<testing::Subprocess> memory_, agent_;
  int memory_port_ = 0, agent_port_ = 0;
  std::unique_ptr<vmle::v1::StudyService::Stub> studies_;
};

TEST_F(ServiceLimitsTest, OversizedRequestsAreRefusedByEveryServer) {
  vmle::v1::Study study;
  const grpc::Status agent = Submit(std::string(100 << 10, 'n'), &study);
  EXPECT_EQ(agent.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << agent.error_message();
  EXPECT_THAT(agent.error_message(), HasSubstr("larger than max"));

  // Under the request limit but over the spec's: the validator names the field.
  const grpc::Status name = Submit(std::string(10 << 10, 'n'), &study);
  EXPECT_EQ(name.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(name.error_message(), HasSubstr("spec.name"));

  auto memory = vmle::v1::MemoryService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", memory_port_), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  vmle::v1::PutStudyRequest put;
  put.mutable_study()->set_id("st-big");
  put.mutable_study()->set_error(std::string(100 << 10, 'e'));
  vmle::v1::PutStudyResponse response;
  EXPECT_EQ(memory->PutStudy(&context, put, &response).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(ServiceLimitsTest, StudiesBeyondTheAgentsLimitAreRefusedUntilOneEnds) {
  vmle::v1::Study first, second, third;
  ASSERT_TRUE(Submit("one", &first).ok());
  ASSERT_TRUE(Submit("two", &second).ok());
  const grpc::Status refused = Submit("three", &third);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("--max_active_studies"));

  grpc::ClientContext context;
  vmle::v1::CancelStudyRequest cancel;
  cancel.set_study_id(first.id());
  vmle::v1::Study cancelled;
  ASSERT_TRUE(studies_->CancelStudy(&context, cancel, &cancelled).ok());
  const grpc::Status accepted = Submit("three", &third);
  EXPECT_TRUE(accepted.ok()) << accepted.error_message();
}

// A request whose bytes do not parse reaches no handler; it is refused as
// INVALID_ARGUMENT naming the field (invalid UTF-8) or the method, not as INTERNAL
// with an empty message, on every server.
TEST_F(ServiceLimitsTest, RequestsThatDoNotParseAreRefusedNamingTheField) {
  vmle::v1::GetStudyRequest get;
  get.set_study_id("st-\xff\xfe");
  vmle::v1::Study study;
  grpc::Status status;
  for (int i = 0; i < 100; ++i) {  // UNAVAILABLE while the agent loads
    grpc::ClientContext context;
    status = studies_->GetStudy(&context, get, &study);
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("vmle.v1.GetStudyRequest.study_id: not valid UTF-8"));

  // Nested: a study's name.
  vmle::v1::Study created;
  status = Submit("name-\xc3\x28", &created);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("vmle.v1.StudySpec.name: not valid UTF-8"));

  auto memory = vmle::v1::MemoryService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", memory_port_), grpc::InsecureChannelCredentials()));
  vmle::v1::GetStudyRecordRequest record;
  record.set_study_id("\x80");
  grpc::ClientContext context;
  status = memory->GetStudy(&context, record, &study);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("study_id: not valid UTF-8"));

  // Bytes that are no message at all: the method is named; also for LeaseTrial, which
  // the callback API serves.
  grpc::GenericStub generic(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", agent_port_), grpc::InsecureChannelCredentials()));
  for (const std::string method : {"/vmle.v1.StudyService/GetStudy", "/vmle.v1.TrialQueue/LeaseTrial"}) {
    const std::string garbage = "\x0a\xff\xff\xff\xff\x0f";  // a length past the end
    grpc::Slice slice(garbage);
    grpc::ByteBuffer request(&slice, 1), response;
    grpc::ClientContext generic_context;
    std::promise<grpc::Status> done;
    generic.UnaryCall(&generic_context, method, grpc::StubOptions(), &request, &response,
                      [&done](grpc::Status s) { done.set_value(std::move(s)); });
    status = done.get_future().get();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << method << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr("not a valid request of " + method));
  }
  auto queue = vmle::v1::TrialQueue::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", agent_port_), grpc::InsecureChannelCredentials()));
  vmle::v1::LeaseTrialRequest lease;
  lease.mutable_worker()->set_worker_id("w-\xff");
  lease.set_wait_seconds(1);
  vmle::v1::LeaseTrialResponse leased;
  grpc::ClientContext utf8_context;
  status = queue->LeaseTrial(&utf8_context, lease, &leased);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("vmle.v1.WorkerInfo.worker_id: not valid UTF-8"));
}

}  // namespace
}  // namespace vmle
