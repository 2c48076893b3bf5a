// The vmle-memory binary: acknowledged writes survive SIGKILL, a directory that is
// not ours or is locked by another process stops it at startup, and its metrics are
// served at /metrics.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tests/memory/memory_test_util.h"
#include "tests/util/subprocess.h"
#include "vmle/v1/memory_service.grpc.pb.h"

namespace vmle::memory::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using vmle::testing::Subprocess;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + 30s);
  return context;
}

class MemoryBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = vmle::testing::MakeTempDir(); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Starts vmle-memory on `db`; `name` tells apart the ready and log files of restarts.
  absl::StatusOr<Subprocess> Start(const std::string& db, const std::string& name,
                                   const std::string& metrics = "off") {
    return Subprocess::Start({std::string(VMLE_BINARY_DIR) + "/services/memory/vmle-memory",
                              "--listen=127.0.0.1:0", "--metrics=" + metrics, "--db=" + db,
                              "--ready_file=" + Ready(name), "--shutdown_grace_seconds=1"},
                             Log(name));
  }
  std::string Ready(const std::string& name) const { return dir_ + "/" + name + ".ready.json"; }
  std::string Log(const std::string& name) const { return dir_ + "/" + name + ".log"; }

  std::unique_ptr<v1::MemoryService::Stub> Connect(int port) {
    return v1::MemoryService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  // Exit code of a process expected to stop by itself.
  int ExitCode(Subprocess& process) {
    const std::optional<int> status = process.Wait(60s);
    if (!status.has_value()) return -1;
    return WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  }

  std::string dir_;
};

TEST_F(MemoryBinaryTest, AcknowledgedWritesSurviveSigkillMidStream) {
  const std::string db = dir_ + "/db";
  absl::StatusOr<Subprocess> first = Start(db, "first");
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<vmle::testing::ReadyInfo> ready =
      vmle::testing::WaitForReadyFile(Ready("first"), 60s);
  ASSERT_TRUE(ready.ok()) << ready.status() << Slurp(Log("first"));
  {
    v1::PutStudyRequest request;
    *request.mutable_study() = MakeStudy("st-1");
    v1::PutStudyResponse response;
    ASSERT_TRUE(Connect(ready->grpc_port)->PutStudy(Context().get(), request, &response).ok());
  }

  // Writers stream trials until the server dies under them; each remembers what was
  // acknowledged.
  constexpr int kWriters = 4;
  std::mutex mu;
  std::vector<int> acknowledged;
  std::atomic<int> cut_off{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      auto stub = Connect(ready->grpc_port);
      for (int n = w + 1;; n += kWriters) {
        v1::PutTrialRequest request;
        *request.mutable_trial() = MakeTrial("st-1", n);
        v1::PutTrialResponse response;
        auto context = std::make_unique<grpc::ClientContext>();
        context->set_deadline(std::chrono::system_clock::now() + 10s);
        if (!stub->PutTrial(context.get(), request, &response).ok()) {
          ++cut_off;
          return;
        }
        std::lock_guard<std::mutex> lock(mu);
        acknowledged.push_back(n);
      }
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (acknowledged.size() >= 200 || std::chrono::steady_clock::now() > deadline) break;
    }
    std::this_thread::sleep_for(5ms);
  }
  first->Signal(SIGKILL);
  for (std::thread& t : writers) t.join();
  ASSERT_TRUE(first->Wait(30s).has_value());
  EXPECT_EQ(cut_off.load(), kWriters) << "every writer was still writing when the server died";
  ASSERT_GE(acknowledged.size(), 200u) << Slurp(Log("first"));

  absl::StatusOr<Subprocess> second = Start(db, "second");
  ASSERT_TRUE(second.ok()) << second.status();
  ready = vmle::testing::WaitForReadyFile(Ready("second"), 60s);
  ASSERT_TRUE(ready.ok()) << ready.status() << Slurp(Log("second"));
  auto stub = Connect(ready->grpc_port);
  for (int n : acknowledged) {
    v1::GetTrialRequest get;
    get.set_study_id("st-1");
    get.set_trial_id(absl::StrCat("t-", n));
    v1::Trial trial;
    const grpc::Status status = stub->GetTrial(Context().get(), get, &trial);
    ASSERT_TRUE(status.ok()) << "acknowledged trial " << n << " lost: " << status.error_message();
    EXPECT_EQ(DeterministicBytes(trial), DeterministicBytes(MakeTrial("st-1", n)));
  }
  v1::ListTrialRecordsRequest list;
  list.set_study_id("st-1");
  list.set_page_size(1000);
  v1::ListTrialRecordsResponse listed;
  ASSERT_TRUE(stub->ListTrials(Context().get(), list, &listed).ok());
  EXPECT_GE(static_cast<size_t>(listed.trials_size()), acknowledged.size());
  for (int i = 1; i < listed.trials_size(); ++i) {
    EXPECT_LT(listed.trials(i - 1).number(), listed.trials(i).number());
  }
  second->Signal(SIGTERM);
  EXPECT_EQ(ExitCode(*second), 0) << Slurp(Log("second"));
}

TEST_F(MemoryBinaryTest, ADirectoryThatIsNotOursStopsStartup) {
  std::filesystem::create_directories(dir_ + "/photos");
  std::ofstream(dir_ + "/photos/holiday.jpg") << "jpeg";
  absl::StatusOr<Subprocess> process = Start(dir_ + "/photos", "photos");
  ASSERT_TRUE(process.ok());
  EXPECT_EQ(ExitCode(*process), 1);
  const std::string log = Slurp(Log("photos"));
  EXPECT_THAT(log, HasSubstr("startup failed"));
  EXPECT_THAT(log, HasSubstr("is not a vmle-memory database"));
  EXPECT_EQ(std::filesystem::directory_iterator(dir_ + "/photos")->path().filename(),
            "holiday.jpg");
}

TEST_F(MemoryBinaryTest, ADatabaseLockedByAnotherProcessStopsStartup) {
  absl::StatusOr<Subprocess> first = Start(dir_ + "/db", "first");
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(vmle::testing::WaitForReadyFile(Ready("first"), 60s).ok()) << Slurp(Log("first"));
  absl::StatusOr<Subprocess> second = Start(dir_ + "/db", "second");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(ExitCode(*second), 1);
  EXPECT_THAT(Slurp(Log("second")), HasSubstr("is locked by another process"));
}

TEST_F(MemoryBinaryTest, ServesStoreMetrics) {
  absl::StatusOr<Subprocess> process = Start(dir_ + "/db", "metrics", "127.0.0.1:0");
  ASSERT_TRUE(process.ok());
  absl::StatusOr<vmle::testing::ReadyInfo> ready =
      vmle::testing::WaitForReadyFile(Ready("metrics"), 60s);
  ASSERT_TRUE(ready.ok()) << Slurp(Log("metrics"));
  v1::GetStudyRecordRequest get;
  get.set_study_id("st-none");
  v1::Study study;
  EXPECT_EQ(Connect(ready->grpc_port)->GetStudy(Context().get(), get, &study).error_code(),
            grpc::StatusCode::NOT_FOUND);
  absl::StatusOr<std::string> body = vmle::testing::HttpGet(ready->metrics_port, "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_THAT(*body,
              HasSubstr(R"(vmle_memory_operations_total{op="get_study",outcome="NOT_FOUND"} 1)"));
  EXPECT_THAT(*body, HasSubstr(R"(vmle_memory_records{kind="studies"} 0)"));
  EXPECT_THAT(*body, HasSubstr("vmle_memory_db_bytes "));
  EXPECT_THAT(*body, HasSubstr("vmle_memory_operation_seconds_bucket"));
}

}  // namespace
}  // namespace vmle::memory::testing
