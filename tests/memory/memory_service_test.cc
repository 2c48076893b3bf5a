// The MemoryService over gRPC, served in process on a loopback port: codes and
// messages pass through unchanged, and many concurrent clients writing one study lose
// nothing and keep its order.
#include "services/memory/memory_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/server/server.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "services/memory/store/memory_store.h"
#include "tests/memory/memory_test_util.h"
#include "vmle/v1/memory_service.grpc.pb.h"

namespace vmle::memory::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + 30s);
  return context;
}

class MemoryServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = vmle::testing::MakeTempDir();
    MemoryStoreOptions options;
    options.path = dir_ + "/db";
    auto store = MemoryStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    service_ = std::make_unique<MemoryServiceImpl>(std::move(*store));
    ServerOptions server;
    server.service_name = "memory";
    server.listen = "127.0.0.1:0";
    server.shutdown_grace = std::chrono::seconds(1);
    auto host = ServiceHost::Start(server, {service_.get()}, nullptr);
    ASSERT_TRUE(host.ok()) << host.status();
    host_ = std::move(*host);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", host_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::MemoryService::NewStub(channel_);
  }
  void TearDown() override {
    host_->Shutdown();
    host_.reset();
    service_.reset();
    std::filesystem::remove_all(dir_);
  }

  grpc::Status PutStudy(const v1::Study& study, int64_t expected_version = 0) {
    v1::PutStudyRequest request;
    *request.mutable_study() = study;
    request.set_expected_version(expected_version);
    v1::PutStudyResponse response;
    return stub_->PutStudy(Context().get(), request, &response);
  }

  std::string dir_;
  std::unique_ptr<MemoryServiceImpl> service_;
  std::unique_ptr<ServiceHost> host_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::MemoryService::Stub> stub_;
};

TEST_F(MemoryServiceTest, ErrorsKeepTheirCodeAndFieldNamingMessage) {
  v1::GetStudyRecordRequest get;
  get.set_study_id("st-none");
  v1::Study study;
  grpc::Status status = stub_->GetStudy(Context().get(), get, &study);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "study 'st-none' not found");

  status = PutStudy(MakeStudy(""));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "study.id: must be non-empty");

  ASSERT_TRUE(PutStudy(MakeStudy("st-1")).ok());
  status = PutStudy(MakeStudy("st-1"), 5);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(status.error_message(), HasSubstr("not the expected 5"));

  v1::ListTrialRecordsRequest list;
  list.set_study_id("st-1");
  v1::ListTrialRecordsResponse trials;
  ASSERT_TRUE(stub_->ListTrials(Context().get(), list, &trials).ok());
  EXPECT_EQ(trials.trials_size(), 0);
  v1::GetStatsResponse stats;
  ASSERT_TRUE(stub_->GetStats(Context().get(), {}, &stats).ok());
  EXPECT_EQ(stats.records().at("studies"), 1);
}

TEST_F(MemoryServiceTest, ConcurrentClientsWritingOneStudyLoseNothingAndKeepOrder) {
  ASSERT_TRUE(PutStudy(MakeStudy("st-1")).ok());
  constexpr int kClients = 16;
  constexpr int kTrialsPerClient = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      // Each client its own channel, as separate agents or workers would have.
      auto stub = v1::MemoryService::NewStub(grpc::CreateChannel(
          absl::StrCat("127.0.0.1:", host_->port()), grpc::InsecureChannelCredentials()));
      // Interleaved numbers: client c writes c+1, c+1+kClients, ...
      for (int i = 0; i < kTrialsPerClient; ++i) {
        v1::PutTrialRequest request;
        *request.mutable_trial() = MakeTrial("st-1", c + 1 + i * kClients);
        v1::PutTrialResponse response;
        if (!stub->PutTrial(Context().get(), request, &response).ok()) ++failures;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(failures.load(), 0);

  v1::ListTrialRecordsRequest list;
  list.set_study_id("st-1");
  list.set_page_size(1000);
  v1::ListTrialRecordsResponse response;
  ASSERT_TRUE(stub_->ListTrials(Context().get(), list, &response).ok());
  ASSERT_EQ(response.trials_size(), kClients * kTrialsPerClient);
  for (int i = 0; i < response.trials_size(); ++i) {
    EXPECT_EQ(response.trials(i).number(), i + 1);
    EXPECT_EQ(DeterministicBytes(response.trials(i)), DeterministicBytes(MakeTrial("st-1", i + 1)));
  }
}

// Clients that read the study, update it with a trial result and commit with the
// version they read, retrying on ABORTED: every commit lands exactly once.
TEST_F(MemoryServiceTest, ConcurrentCommitsWithVersionChecksLoseNoUpdate) {
  ASSERT_TRUE(PutStudy(MakeStudy("st-1")).ok());
  constexpr int kClients = 8;
  constexpr int kCommitsPerClient = 10;
  std::atomic<int> conflicts{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < kCommitsPerClient; ++i) {
        for (int attempt = 0; attempt < 1000; ++attempt) {
          v1::GetStudyRecordRequest get;
          get.set_study_id("st-1");
          v1::Study study;
          if (!stub_->GetStudy(Context().get(), get, &study).ok()) {
            ++failures;
            return;
          }
          v1::CommitTrialResultRequest commit;
          *commit.mutable_trial() = MakeTrial("st-1", c * kCommitsPerClient + i + 1);
          study.set_trials_total(study.trials_total() + 1);
          *commit.mutable_study() = study;
          // The commit that moves the study to version v writes event v - 1.
          *commit.add_events() = MakeEvent("st-1", study.version());
          commit.set_expected_study_version(study.version());
          v1::CommitTrialResultResponse response;
          const grpc::Status s = stub_->CommitTrialResult(Context().get(), commit, &response);
          if (s.ok()) break;
          if (s.error_code() != grpc::StatusCode::ABORTED) {
            ADD_FAILURE() << s.error_message();
            ++failures;
            return;
          }
          ++conflicts;
        }
      }
    });
  }
  for (std::thread& t : clients) t.join();
  ASSERT_EQ(failures.load(), 0);

  v1::GetStudyRecordRequest get;
  get.set_study_id("st-1");
  v1::Study study;
  ASSERT_TRUE(stub_->GetStudy(Context().get(), get, &study).ok());
  EXPECT_EQ(study.trials_total(), kClients * kCommitsPerClient);
  EXPECT_EQ(study.version(), 1 + kClients * kCommitsPerClient);
  v1::ListEventsRequest events;
  events.set_study_id("st-1");
  v1::ListEventsResponse listed;
  ASSERT_TRUE(stub_->ListEvents(Context().get(), events, &listed).ok());
  ASSERT_EQ(listed.events_size(), kClients * kCommitsPerClient);
  for (int i = 0; i < listed.events_size(); ++i) EXPECT_EQ(listed.events(i).sequence(), i + 1);
  RecordProperty("version_conflicts", conflicts.load());
}

}  // namespace
}  // namespace vmle::memory::testing
