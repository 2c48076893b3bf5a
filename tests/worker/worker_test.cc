// The pull loop against a scripted TrialQueue served in process on port 0.
#include "services/trainer/worker/worker.h"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/registry.h"
#include "tests/util/subprocess.h"
#include "tests/worker/fake_trial_queue.h"
#include "tests/worker/worker_test_util.h"

namespace vmle::worker {
namespace {

using ::testing::HasSubstr;
using testing::FakeAgent;
using testing::FakeTrialQueue;
using testing::Script;
using vmle::v1::TrialAssignment;

double MetricValue(prometheus::Registry& registry, const std::string& name,
                   const std::string& label = "", const std::string& value = "") {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      const bool match = label.empty() || (!metric.label.empty() && metric.label[0].name == label &&
                                           metric.label[0].value == value);
      if (!match) continue;
      return family.type == prometheus::MetricType::Gauge ? metric.gauge.value : metric.counter.value;
    }
  }
  return -1;
}

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatasetCacheOptions cache_options;
    cache_options.data_root = vmle::testing::MakeTempDir();
    auto cache = DatasetCache::Create(cache_options);
    ASSERT_TRUE(cache.ok()) << cache.status();
    cache_ = std::move(*cache);
    TrialRunnerOptions runner_options;
    runner_options.datasets = cache_.get();
    runner_ = std::make_unique<TrialRunner>(runner_options);
  }

  WorkerOptions Options() {
    WorkerOptions options;
    options.worker_id = "w-test";
    options.hostname = "test-host";
    options.lease_wait_seconds = 1;
    options.rpc_timeout = absl::Seconds(5);
    options.initial_backoff = absl::Milliseconds(20);
    options.max_backoff = absl::Milliseconds(200);
    options.metrics = &registry_;
    // A report per epoch, whatever the machine's speed; the interval has its own tests.
    options.progress_interval = absl::ZeroDuration();
    return options;
  }

  std::unique_ptr<Worker> StartWorker(int port) { return StartWorker(port, Options()); }
  std::unique_ptr<Worker> StartWorker(int port, const WorkerOptions& options) {
    auto worker = std::make_unique<Worker>(
        options, MakeAgentChannel("127.0.0.1:" + std::to_string(port), options), runner_.get());
    worker->Start();
    return worker;
  }

  // Queues `assignment`, runs a worker until `done` holds (false after 20 s), then
  // stops the worker.
  bool RunUntil(FakeAgent& agent, const TrialAssignment& assignment,
                const std::function<bool(const FakeTrialQueue&)>& done) {
    agent.queue.Queue(assignment);
    auto worker = StartWorker(agent.port);
    const bool reached = agent.queue.WaitFor(done);
    worker->Stop();
    return reached;
  }

  static bool Completed(const FakeTrialQueue& q) { return !q.completed.empty(); }

  prometheus::Registry registry_;
  std::unique_ptr<DatasetCache> cache_;
  std::unique_ptr<TrialRunner> runner_;
};

TEST_F(WorkerTest, RunsALeasedTrialAndCompletesIt) {
  FakeAgent agent({});
  ASSERT_TRUE(RunUntil(agent, testing::TinyAssignment("t1", 2), Completed));

  absl::MutexLock lock(&agent.queue.mu_);
  const auto& q = agent.queue;
  ASSERT_FALSE(q.leases.empty());
  EXPECT_EQ(q.leases[0].worker().worker_id(), "w-test");
  EXPECT_EQ(q.leases[0].worker().device(), "cpu");
  EXPECT_EQ(q.leases[0].worker().hostname(), "test-host");
  EXPECT_EQ(q.leases[0].wait_seconds(), 1);
  ASSERT_EQ(q.progress.size(), 2u);
  EXPECT_EQ(q.progress[0].trial_id(), "t1");
  EXPECT_EQ(q.progress[0].lease_id(), "lease-t1");
  EXPECT_EQ(q.progress[0].epoch().epoch(), 1);
  EXPECT_EQ(q.progress[0].dataset_profile().num_users(), 200) << "the first report carries the profile";
  EXPECT_FALSE(q.progress[1].has_dataset_profile());
  EXPECT_EQ(q.progress[1].epoch().epoch(), 2);
  ASSERT_EQ(q.completed.size(), 1u);
  const auto& c = q.completed[0];
  EXPECT_EQ(c.trial_id(), "t1");
  EXPECT_EQ(c.lease_id(), "lease-t1");
  EXPECT_GE(c.best_epoch(), 1);
  EXPECT_GT(c.test().num_users(), 0);
  EXPECT_EQ(c.dataset_profile().num_users(), 200);
  EXPECT_GT(c.train_seconds(), 0.0);
  EXPECT_FALSE(c.stopped_early());
  EXPECT_TRUE(q.failed.empty());

  EXPECT_EQ(MetricValue(registry_, "vmle_worker_trials_total", "outcome", "completed"), 1);
  EXPECT_EQ(MetricValue(registry_, "vmle_worker_busy"), 0);
  EXPECT_GT(MetricValue(registry_, "vmle_worker_samples_per_second"), 0);
}

// Epochs shorter than the report interval go together: the first at once (it
// carries the dataset profile), the others with the result.
TEST_F(WorkerTest, EpochsWithinTheReportIntervalGoInOneReport) {
  FakeAgent agent({});
  agent.queue.Queue(testing::TinyAssignment("t1", 4));
  WorkerOptions options = Options();
  options.progress_interval = absl::Hours(1);
  auto worker = StartWorker(agent.port, options);
  ASSERT_TRUE(agent.queue.WaitFor(Completed));
  worker->Stop();

  absl::MutexLock lock(&agent.queue.mu_);
  const auto& q = agent.queue;
  ASSERT_EQ(q.progress.size(), 1u);
  EXPECT_EQ(q.progress[0].epoch().epoch(), 1);
  EXPECT_EQ(q.progress[0].later_epochs_size(), 0);
  EXPECT_EQ(q.progress[0].dataset_profile().num_users(), 200);
  ASSERT_EQ(q.completed.size(), 1u);
  const auto& c = q.completed[0];
  ASSERT_EQ(c.final_epochs_size(), 3);
  for (int e = 0; e < 3; ++e) EXPECT_EQ(c.final_epochs(e).epoch(), e + 2);
  EXPECT_GT(c.final_epochs(2).validation().ndcg_at_10(), 0);
  EXPECT_FALSE(c.stopped_early());
}

TEST_F(WorkerTest, AZeroReportIntervalReportsEveryEpoch) {
  FakeAgent agent({});
  agent.queue.Queue(testing::TinyAssignment("t1", 3));
  auto worker = StartWorker(agent.port);
  ASSERT_TRUE(agent.queue.WaitFor(Completed));
  worker->Stop();

  absl::MutexLock lock(&agent.queue.mu_);
  ASSERT_EQ(agent.queue.progress.size(), 3u);
  for (int e = 0; e < 3; ++e) {
    EXPECT_EQ(agent.queue.progress[e].epoch().epoch(), e + 1);
    EXPECT_EQ(agent.queue.progress[e].later_epochs_size(), 0);
  }
  ASSERT_EQ(agent.queue.completed.size(), 1u);
  EXPECT_EQ(agent.queue.completed[0].final_epochs_size(), 0);
}

// A report that fails loses nothing: its epochs go again with the next one.
TEST_F(WorkerTest, TheEpochsOfAFailedReportGoWithTheNextOne) {
  Script script;
  script.unavailable_progress = 1;
  FakeAgent agent(script);
  agent.queue.Queue(testing::TinyAssignment("t1", 3));
  auto worker = StartWorker(agent.port);
  ASSERT_TRUE(agent.queue.WaitFor(Completed));
  worker->Stop();

  absl::MutexLock lock(&agent.queue.mu_);
  const auto& q = agent.queue;
  ASSERT_EQ(q.progress.size(), 3u);
  EXPECT_EQ(q.progress[0].epoch().epoch(), 1);  // answered UNAVAILABLE
  EXPECT_EQ(q.progress[1].epoch().epoch(), 1);
  ASSERT_EQ(q.progress[1].later_epochs_size(), 1);
  EXPECT_EQ(q.progress[1].later_epochs(0).epoch(), 2);
  EXPECT_EQ(q.progress[1].dataset_profile().num_users(), 200) << "the profile goes again too";
  EXPECT_EQ(q.progress[2].epoch().epoch(), 3);
  EXPECT_EQ(q.completed.size(), 1u);
}

TEST_F(WorkerTest, ProgressReplyStopsTrainingAndTheTrialCompletesEarly) {
  Script script;
  script.stop_at_epoch = 1;
  FakeAgent agent(script);
  ASSERT_TRUE(RunUntil(agent, testing::TinyAssignment("t1", 5), Completed));
  absl::MutexLock lock(&agent.queue.mu_);
  EXPECT_EQ(agent.queue.progress.size(), 1u);
  EXPECT_TRUE(agent.queue.completed[0].stopped_early());
  EXPECT_EQ(agent.queue.completed[0].best_epoch(), 1);
  EXPECT_EQ(MetricValue(registry_, "vmle_worker_trials_total", "outcome", "stopped_early"), 1);
}

TEST_F(WorkerTest, HeartbeatStopEndsTrainingAfterTheEpoch) {
  Script script;
  script.heartbeat_stop = true;
  script.progress_waits_for_heartbeat = true;
  FakeAgent agent(script);
  TrialAssignment a = testing::TinyAssignment("t1", 5);
  a.set_heartbeat_seconds(1);
  ASSERT_TRUE(RunUntil(agent, a, Completed));
  absl::MutexLock lock(&agent.queue.mu_);
  EXPECT_EQ(agent.queue.heartbeats[0].lease_id(), "lease-t1");
  EXPECT_TRUE(agent.queue.completed[0].stopped_early());
  // Training stops after the epoch during which the heartbeat's answer arrived.
  EXPECT_LT(agent.queue.progress.size(), 5u);
}

TEST_F(WorkerTest, LostLeaseAbandonsTheTrialWithoutReportingIt) {
  Script script;
  script.heartbeat_lease_lost = true;
  script.progress_waits_for_heartbeat = true;
  FakeAgent agent(script);
  TrialAssignment a = testing::TinyAssignment("t1", 5);
  a.set_heartbeat_seconds(1);
  // The worker gives the trial up and asks for the next one.
  ASSERT_TRUE(RunUntil(agent, a, [](const FakeTrialQueue& q) {
    return !q.heartbeats.empty() && q.leases.size() >= 2;
  }));
  absl::MutexLock lock(&agent.queue.mu_);
  EXPECT_TRUE(agent.queue.completed.empty());
  EXPECT_TRUE(agent.queue.failed.empty());
  EXPECT_EQ(agent.queue.heartbeats.size(), 1u) << "no heartbeats after the lease was lost";
  EXPECT_EQ(MetricValue(registry_, "vmle_worker_trials_total", "outcome", "abandoned"), 1);
}

TEST_F(WorkerTest, FailedTrialIsReportedWithItsCause) {
  FakeAgent agent({});
  TrialAssignment a = testing::TinyAssignment("t1", 2);
  (*a.mutable_config()->mutable_values())["dropout"].set_float_value(5.0);
  ASSERT_TRUE(RunUntil(agent, a, [](const FakeTrialQueue& q) { return !q.failed.empty(); }));
  absl::MutexLock lock(&agent.queue.mu_);
  const auto& f = agent.queue.failed[0];
  EXPECT_EQ(f.trial_id(), "t1");
  EXPECT_EQ(f.lease_id(), "lease-t1");
  EXPECT_EQ(f.failure_cause(), kCauseInvalidConfig);
  EXPECT_FALSE(f.retryable());
  EXPECT_THAT(f.error(), HasSubstr("dropout"));
  EXPECT_TRUE(agent.queue.progress.empty());
  EXPECT_EQ(MetricValue(registry_, "vmle_worker_failures_total", "cause", kCauseInvalidConfig), 1);
}

TEST_F(WorkerTest, KeepsRetryingWhileTheAgentIsUnavailable) {
  Script script;
  script.unavailable_leases = 3;
  FakeAgent agent(script);
  ASSERT_TRUE(RunUntil(agent, testing::TinyAssignment("t1", 1), Completed));
  absl::MutexLock lock(&agent.queue.mu_);
  EXPECT_GE(agent.queue.leases.size(), 4u);
  EXPECT_GE(MetricValue(registry_, "vmle_worker_agent_errors_total", "rpc", "LeaseTrial"), 3);
}

TEST_F(WorkerTest, FindsTheAgentAgainAfterItRestarts) {
  auto first = std::make_unique<FakeAgent>(Script{});
  const int port = first->port;
  first->queue.Queue(testing::TinyAssignment("t1", 1));
  auto worker = StartWorker(port);
  ASSERT_TRUE(first->queue.WaitFor([](const FakeTrialQueue& q) { return !q.completed.empty(); }));
  first.reset();  // the agent goes away; the worker sees UNAVAILABLE

  FakeAgent second(Script{}, port);
  ASSERT_EQ(second.port, port);
  second.queue.Queue(testing::TinyAssignment("t2", 1));
  ASSERT_TRUE(second.queue.WaitFor([](const FakeTrialQueue& q) { return !q.completed.empty(); }));
  worker->Stop();
  absl::MutexLock lock(&second.queue.mu_);
  EXPECT_EQ(second.queue.completed[0].trial_id(), "t2");
}

TEST_F(WorkerTest, StopHandsARunningTrialBack) {
  Script script;
  script.hang_progress_of = "t1";
  FakeAgent agent(script);
  // Stop comes while the first progress report is in flight.
  ASSERT_TRUE(RunUntil(agent, testing::TinyAssignment("t1", 5),
                       [](const FakeTrialQueue& q) { return !q.progress.empty(); }));
  absl::MutexLock lock(&agent.queue.mu_);
  ASSERT_EQ(agent.queue.failed.size(), 1u);
  const auto& f = agent.queue.failed[0];
  EXPECT_EQ(f.trial_id(), "t1");
  EXPECT_EQ(f.failure_cause(), kCauseInternal);
  EXPECT_TRUE(f.retryable());
  EXPECT_THAT(f.error(), HasSubstr("shutting down"));
  EXPECT_TRUE(agent.queue.completed.empty());
  EXPECT_EQ(MetricValue(registry_, "vmle_worker_trials_total", "outcome", "released"), 1);
}

TEST_F(WorkerTest, StopInterruptsTheLongPollPromptly) {
  FakeAgent agent({});
  WorkerOptions options = Options();
  options.lease_wait_seconds = 60;
  Worker worker(options, MakeAgentChannel("127.0.0.1:" + std::to_string(agent.port), options),
                runner_.get());
  worker.Start();
  ASSERT_TRUE(agent.queue.WaitFor([](const FakeTrialQueue& q) { return !q.leases.empty(); }));
  const auto start = std::chrono::steady_clock::now();
  worker.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST_F(WorkerTest, StopWhileTheAgentIsUnreachableReturnsPromptly) {
  const WorkerOptions options = Options();
  Worker worker(options, MakeAgentChannel("127.0.0.1:1", options), runner_.get());
  worker.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto start = std::chrono::steady_clock::now();
  worker.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_GE(MetricValue(registry_, "vmle_worker_agent_errors_total", "rpc", "LeaseTrial"), 1);
}

}  // namespace
}  // namespace vmle::worker
