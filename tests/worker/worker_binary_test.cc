// The vmle-worker binary against a scripted agent: flags and their environment
// overrides, a trial trained end to end, /metrics, and SIGTERM in mid-trial.
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/util/subprocess.h"
#include "tests/worker/fake_trial_queue.h"
#include "tests/worker/worker_test_util.h"

namespace vmle::worker {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::FakeAgent;
using testing::FakeTrialQueue;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(WorkerBinaryTest, TrainsForTheAgentAndHandsItsTrialBackOnSigterm) {
  testing::Script script;
  script.hang_progress_of = "t2";
  FakeAgent agent(script);
  agent.queue.Queue(testing::TinyAssignment("t1", 2));

  const std::string dir = vmle::testing::MakeTempDir();
  const std::vector<std::string> argv = {
      std::string(VMLE_BINARY_DIR) + "/services/trainer/worker/vmle-worker",
      "--listen=127.0.0.1:0",
      "--metrics=127.0.0.1:0",
      "--ready_file=" + dir + "/ready.json",
      "--agent=127.0.0.1:" + std::to_string(agent.port),
      "--data_root=" + dir,
      "--lease_wait_seconds=1",
      "--threads=1"};
  ASSERT_EQ(setenv("VMLE_WORKER_ID", "worker-from-env", 1), 0);
  auto process = vmle::testing::Subprocess::Start(argv, dir + "/log.txt");
  unsetenv("VMLE_WORKER_ID");
  ASSERT_TRUE(process.ok()) << process.status();
  auto ready = vmle::testing::WaitForReadyFile(dir + "/ready.json", 30s);
  ASSERT_TRUE(ready.ok()) << ready.status() << "\n" << Slurp(dir + "/log.txt");

  ASSERT_TRUE(agent.queue.WaitFor([](const FakeTrialQueue& q) { return !q.completed.empty(); }))
      << Slurp(dir + "/log.txt");
  {
    absl::MutexLock lock(&agent.queue.mu_);
    EXPECT_EQ(agent.queue.leases[0].worker().worker_id(), "worker-from-env");
    EXPECT_EQ(agent.queue.leases[0].worker().threads(), 1);
    EXPECT_EQ(agent.queue.completed[0].trial_id(), "t1");
  }
  const auto metrics = vmle::testing::HttpGet(ready->metrics_port, "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_THAT(*metrics, HasSubstr("vmle_worker_trials_total{outcome=\"completed\"} 1"));
  EXPECT_THAT(*metrics, HasSubstr("vmle_worker_epoch_seconds_count 2"));
  EXPECT_THAT(*metrics, HasSubstr("vmle_worker_dataset_cache_misses_total 1"));

  agent.queue.Queue(testing::TinyAssignment("t2", 5));
  ASSERT_TRUE(agent.queue.WaitFor([](const FakeTrialQueue& q) {
    for (const auto& p : q.progress) {
      if (p.trial_id() == "t2") return true;
    }
    return false;
  }));
  process->Signal(SIGTERM);
  const auto status = process->Wait(30s);
  ASSERT_TRUE(status.has_value()) << "did not exit after SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << Slurp(dir + "/log.txt");
  absl::MutexLock lock(&agent.queue.mu_);
  ASSERT_EQ(agent.queue.failed.size(), 1u) << Slurp(dir + "/log.txt");
  EXPECT_EQ(agent.queue.failed[0].trial_id(), "t2");
  EXPECT_EQ(agent.queue.failed[0].failure_cause(), "internal");
  EXPECT_TRUE(agent.queue.failed[0].retryable());
  EXPECT_EQ(agent.queue.completed.size(), 1u);
}

TEST(WorkerBinaryTest, MissingDeviceOrDataRootStopsStartup) {
  const std::string dir = vmle::testing::MakeTempDir();
  const std::vector<std::vector<std::string>> cases = {
      {"--data_root=" + dir + "/missing"},
      {"--data_root=" + dir, "--device=cuda:7"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    std::vector<std::string> argv = {std::string(VMLE_BINARY_DIR) + "/services/trainer/worker/vmle-worker",
                                     "--listen=127.0.0.1:0", "--metrics=off", "--agent=127.0.0.1:1"};
    argv.insert(argv.end(), cases[i].begin(), cases[i].end());
    const std::string log = dir + "/log" + std::to_string(i) + ".txt";
    auto process = vmle::testing::Subprocess::Start(argv, log);
    ASSERT_TRUE(process.ok());
    const auto status = process->Wait(30s);
    ASSERT_TRUE(status.has_value()) << cases[i].back();
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << Slurp(log);
    EXPECT_THAT(Slurp(log), HasSubstr("startup failed")) << cases[i].back();
  }
}

}  // namespace
}  // namespace vmle::worker
