// The pull loop against a scripted TrialQueue served in process on port 0.
#include "services/trainer/worker/worker.h"

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/security/server_credentials.h"
#include "prometheus/registry.h"
#include "tests/util/subprocess.h"
#include "tests/worker/worker_test_util.h"

namespace vmle::worker {
namespace {

using ::testing::HasSubstr;
using vmle::v1::TrialAssignment;

// What the fake agent does besides handing out its assignments in order.
struct Script {
  // LeaseTrial calls answered UNAVAILABLE before the first real answer.
  int unavailable_leases = 0;
  // Heartbeat answers FAILED_PRECONDITION (the lease expired).
  bool heartbeat_lease_lost = false;
  // Heartbeat answers stop (the study was cancelled).
  bool heartbeat_stop = false;
  // ReportProgress answers ACTION_STOP from this epoch on; 0 never.
  int stop_at_epoch = 0;
  // ReportProgress answers only once a heartbeat has arrived, so that a trial
  // certainly lives through one.
  bool progress_waits_for_heartbeat = false;
  // ReportProgress never answers (until the call is cancelled).
  bool progress_hangs = false;
};

// A TrialQueue that hands out queued assignments and records every call.
class FakeTrialQueue final : public vmle::v1::TrialQueue::Service {
 public:
  explicit FakeTrialQueue(Script script) : script_(script) {}

  void Queue(const TrialAssignment& assignment) {
    absl::MutexLock lock(&mu_);
    queued_.push_back(assignment);
  }

  // Waits up to 20 s for `done` to hold over the recorded calls.
  bool WaitFor(const std::function<bool(const FakeTrialQueue&)>& done) {
    const absl::Time until = absl::Now() + absl::Seconds(20);
    absl::MutexLock lock(&mu_);
    while (!done(*this)) {
      if (absl::Now() > until) return false;
      Pause();
    }
    return true;
  }

  // Guards the recorded calls.
  mutable absl::Mutex mu_;
  // Recorded calls; read under WaitFor or mu_.
  std::vector<vmle::v1::LeaseTrialRequest> leases ABSL_GUARDED_BY(mu_);
  std::vector<vmle::v1::ReportProgressRequest> progress ABSL_GUARDED_BY(mu_);
  std::vector<vmle::v1::HeartbeatRequest> heartbeats ABSL_GUARDED_BY(mu_);
  std::vector<vmle::v1::CompleteTrialRequest> completed ABSL_GUARDED_BY(mu_);
  std::vector<vmle::v1::FailTrialRequest> failed ABSL_GUARDED_BY(mu_);

  grpc::Status LeaseTrial(grpc::ServerContext* context, const vmle::v1::LeaseTrialRequest* request,
                          vmle::v1::LeaseTrialResponse* response) override {
    const absl::Time until = absl::Now() + absl::Seconds(request->wait_seconds());
    absl::MutexLock lock(&mu_);
    leases.push_back(*request);
    if (unavailable_answered_ < script_.unavailable_leases) {
      ++unavailable_answered_;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "agent starting");
    }
    while (queued_.empty() && absl::Now() < until && !context->IsCancelled()) {
      Pause();
    }
    if (!queued_.empty()) {
      *response->mutable_assignment() = queued_.front();
      queued_.pop_front();
    }
    return grpc::Status::OK;
  }

  grpc::Status ReportProgress(grpc::ServerContext* context, const vmle::v1::ReportProgressRequest* request,
                              vmle::v1::ReportProgressResponse* response) override {
    absl::MutexLock lock(&mu_);
    progress.push_back(*request);
    const absl::Time until = absl::Now() + absl::Seconds(20);
    while (((script_.progress_waits_for_heartbeat && heartbeats.empty()) || script_.progress_hangs) &&
           !context->IsCancelled() && absl::Now() < until) {
      Pause();
    }
    const bool stop = script_.stop_at_epoch > 0 && request->epoch().epoch() >= script_.stop_at_epoch;
    response->set_action(stop ? vmle::v1::ReportProgressResponse::ACTION_STOP
                              : vmle::v1::ReportProgressResponse::ACTION_CONTINUE);
    return grpc::Status::OK;
  }

  grpc::Status Heartbeat(grpc::ServerContext*, const vmle::v1::HeartbeatRequest* request,
                         vmle::v1::HeartbeatResponse* response) override {
    absl::MutexLock lock(&mu_);
    heartbeats.push_back(*request);
    if (script_.heartbeat_lease_lost) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "lease expired");
    }
    response->set_stop(script_.heartbeat_stop);
    return grpc::Status::OK;
  }

  grpc::Status CompleteTrial(grpc::ServerContext*, const vmle::v1::CompleteTrialRequest* request,
                             vmle::v1::CompleteTrialResponse*) override {
    absl::MutexLock lock(&mu_);
    completed.push_back(*request);
    return grpc::Status::OK;
  }

  grpc::Status FailTrial(grpc::ServerContext*, const vmle::v1::FailTrialRequest* request,
                         vmle::v1::FailTrialResponse*) override {
    absl::MutexLock lock(&mu_);
    failed.push_back(*request);
    return grpc::Status::OK;
  }

 private:
  // Lets other calls in for a moment.
  void Pause() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { changed_.WaitWithTimeout(&mu_, absl::Milliseconds(10)); }

  const Script script_;
  absl::CondVar changed_;
  std::deque<TrialAssignment> queued_ ABSL_GUARDED_BY(mu_);
  int unavailable_answered_ ABSL_GUARDED_BY(mu_) = 0;
};

// The fake agent's server on `port` (0: any free port).
struct FakeAgent {
  explicit FakeAgent(Script script, int port = 0) : queue(script) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(),
                             &this->port);
    builder.RegisterService(&queue);
    server = builder.BuildAndStart();
  }
  ~FakeAgent() {
    if (server != nullptr) server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }

  FakeTrialQueue queue;
  int port = 0;
  std::unique_ptr<grpc::Server> server;
};

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
    return options;
  }

  std::unique_ptr<Worker> StartWorker(int port) {
    const WorkerOptions options = Options();
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
  script.progress_hangs = true;
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
