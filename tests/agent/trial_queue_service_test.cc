// The TrialQueue service over gRPC: LeaseTrial calls that wait for a trial hold no
// server thread; a study's trials go to waiting calls, one each; and a call whose
// caller goes is answered by the server too (its caller slot comes back).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/client_context.h"
#include "prometheus/registry.h"
#include "services/agent/service/trial_queue_service.h"
#include "tests/agent/agent_test_util.h"

namespace vmle::agent::testing {
namespace {

// Threads of this process now.
int Threads() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

// The agent's gauge of idle workers: those whose LeaseTrial call waits.
double IdleWorkers(prometheus::Registry& registry) {
  for (const auto& family : registry.Collect()) {
    if (family.name != "vmle_agent_workers") continue;
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (label.name == "state" && label.value == "idle") return metric.gauge.value;
      }
    }
  }
  return 0;
}

// One LeaseTrial call made with the client's callback API.
struct Call {
  grpc::ClientContext context;
  vmle::v1::LeaseTrialRequest request;
  vmle::v1::LeaseTrialResponse response;
  bool answered = false;  // guarded by the caller's mutex
  grpc::Status status;
};

// Starts a call for `worker_id` waiting up to `wait_seconds`, appended to `calls`; its
// answer is recorded under `mu`.
void StartCall(vmle::v1::TrialQueue::Stub& stub, absl::Mutex& mu, std::vector<std::unique_ptr<Call>>& calls,
               const std::string& worker_id, int wait_seconds) {
  Call& call = *calls.emplace_back(std::make_unique<Call>());
  call.request.mutable_worker()->set_worker_id(worker_id);
  call.request.set_wait_seconds(wait_seconds);
  stub.async()->LeaseTrial(&call.context, &call.request, &call.response, [&mu, &call](grpc::Status s) {
    absl::MutexLock lock(&mu);
    call.answered = true;
    call.status = std::move(s);
  });
}

TEST(TrialQueueServiceTest, WaitingLeaseCallsHoldNoServerThreadAndEveryOneIsAnswered) {
  // Outlives the agent, which updates its gauges until it stops.
  prometheus::Registry registry;
  InProcessCluster cluster;
  StudyManager::Options options = InProcessCluster::DefaultOptions();
  options.registry = &registry;
  cluster.StartAgent(options);
  constexpr int kCalls = 200;
  constexpr int kTrials = 120;
  // One caller (this host) may hold kCalls waiting calls.
  TrialQueueImpl queue(&cluster.manager(), kCalls);
  int port = 0;
  std::unique_ptr<grpc::Server> server = Serve({&queue}, &port);
  auto stub = vmle::v1::TrialQueue::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  // A first call answered, so that the server's and the channel's own threads exist.
  {
    grpc::ClientContext context;
    vmle::v1::LeaseTrialRequest request;
    request.mutable_worker()->set_worker_id("warm-up");
    request.set_wait_seconds(1);
    vmle::v1::LeaseTrialResponse response;
    ASSERT_TRUE(stub->LeaseTrial(&context, request, &response).ok());
    EXPECT_FALSE(response.has_assignment());
  }
  const int threads_before = Threads();

  absl::Mutex mu;
  std::vector<std::unique_ptr<Call>> calls;
  // Whatever fails below, no call is left in flight (the client answers a cancelled
  // call itself, so this cannot hang).
  absl::Cleanup cancel_all = [&] {
    for (auto& call : calls) call->context.TryCancel();
    absl::MutexLock lock(&mu);
    const auto all = [&] {
      for (const auto& call : calls) {
        if (!call->answered) return false;
      }
      return true;
    };
    mu.Await(absl::Condition(&all));
  };
  for (int i = 0; i < kCalls; ++i) StartCall(*stub, mu, calls, absl::StrCat("w-", i), 60);
  // Every call waits in the agent's line (its worker counts as idle) ...
  const absl::Time until = absl::Now() + absl::Seconds(30);
  while (IdleWorkers(registry) < kCalls + 1 && absl::Now() < until) absl::SleepFor(absl::Milliseconds(50));
  ASSERT_EQ(IdleWorkers(registry), kCalls + 1);
  {
    absl::MutexLock lock(&mu);
    for (const auto& call : calls) EXPECT_FALSE(call->answered) << call->request.worker().worker_id();
  }
  // ... with far fewer threads than waiting calls (a thread each would add kCalls).
  EXPECT_LT(Threads() - threads_before, kCalls / 4) << "threads before: " << threads_before;
  // Each holds its caller slot: one more is refused.
  {
    grpc::ClientContext context;
    vmle::v1::LeaseTrialRequest request;
    request.mutable_worker()->set_worker_id("one-too-many");
    request.set_wait_seconds(1);
    vmle::v1::LeaseTrialResponse response;
    EXPECT_EQ(stub->LeaseTrial(&context, request, &response).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }

  // A study with kTrials trials, all leasable at once, serves kTrials of the calls.
  vmle::v1::SubmitStudyRequest submit;
  *submit.mutable_spec() = SimSpec("random", kTrials, kTrials);
  ASSERT_TRUE(cluster.manager().Submit(submit).ok());
  auto answered_with_trial = [&] {
    int n = 0;
    for (const auto& call : calls) n += call->answered && call->response.has_assignment();
    return n;
  };
  {
    absl::MutexLock lock(&mu);
    const auto done = [&] { return answered_with_trial() == kTrials; };
    EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(60)));
  }
  // The rest go away.
  std::move(cancel_all).Invoke();
  {
    absl::MutexLock lock(&mu);
    std::set<std::string> trials;
    int cancelled = 0;
    for (const auto& call : calls) {
      if (call->response.has_assignment()) {
        EXPECT_TRUE(call->status.ok()) << call->status.error_message();
        EXPECT_TRUE(trials.insert(call->response.assignment().trial_id()).second);
      } else {
        EXPECT_EQ(call->status.error_code(), grpc::StatusCode::CANCELLED);
        ++cancelled;
      }
    }
    EXPECT_EQ(trials.size(), static_cast<size_t>(kTrials));
    EXPECT_EQ(cancelled, kCalls - kTrials);
  }
  // The server answered the calls that went too: every slot comes back, so kCalls
  // new calls are all accepted (their 1 s waits end empty).
  int refused = kCalls;
  for (int round = 0; round < 20 && refused > 0; ++round) {
    std::vector<std::unique_ptr<Call>> again;
    for (int i = 0; i < kCalls; ++i) StartCall(*stub, mu, again, absl::StrCat("again-", i), 1);
    absl::MutexLock lock(&mu);
    const auto all = [&] {
      for (const auto& call : again) {
        if (!call->answered) return false;
      }
      return true;
    };
    // Each wait ends within seconds; a server that never answers fails, not hangs.
    if (!mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(30))) {
      ADD_FAILURE() << "calls not answered within 30 s";
      for (auto& call : again) call->context.TryCancel();
      mu.Await(absl::Condition(&all));
    }
    refused = 0;
    for (const auto& call : again) refused += call->status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
  }
  EXPECT_EQ(refused, 0);
  server->Shutdown();
}

}  // namespace
}  // namespace vmle::agent::testing
