// LeaseLine through its header: the order callers are served in, device matching,
// callers that have gone, and who is woken.
#include "services/agent/study/lease_line.h"

#include <gtest/gtest.h>

#include <deque>
#include <thread>
#include <functional>
#include <string>
#include <vector>

namespace vmle::agent {
namespace {

// Waiters with their workers and cancellation flags, as LeaseTrial calls hold them.
class Callers {
 public:
  LeaseLine::Waiter& Add(const std::string& worker_id, const std::string& device, bool gone = false) {
    vmle::v1::WorkerInfo& info = workers_.emplace_back();
    info.set_worker_id(worker_id);
    info.set_device(device);
    const bool* flag = &gone_.emplace_back(gone);
    cancelled_.emplace_back([flag] { return *flag; });
    LeaseLine::Waiter& w = waiters_.emplace_back();
    w.worker = &info;
    w.cancelled = &cancelled_.back();
    return w;
  }

 private:
  std::deque<vmle::v1::WorkerInfo> workers_;
  std::deque<bool> gone_;
  std::deque<std::function<bool()>> cancelled_;
  std::deque<LeaseLine::Waiter> waiters_;
};

std::vector<std::string> Ids(const std::vector<LeaseLine::Waiter*>& ws) {
  std::vector<std::string> out;
  for (const LeaseLine::Waiter* w : ws) out.push_back(w->worker->worker_id());
  return out;
}

TEST(DeviceMatchesTest, AnyCudaOrExactly) {
  EXPECT_TRUE(DeviceMatches("", "cpu"));
  EXPECT_TRUE(DeviceMatches("", "cuda:3"));
  EXPECT_TRUE(DeviceMatches("cuda", "cuda:0"));
  EXPECT_FALSE(DeviceMatches("cuda", "cpu"));
  EXPECT_TRUE(DeviceMatches("cuda:1", "cuda:1"));
  EXPECT_FALSE(DeviceMatches("cuda:1", "cuda:0"));
  EXPECT_FALSE(DeviceMatches("cpu", ""));
}

TEST(LeaseLineTest, ServesTheOldestMatchingCallersUpToTheTrialsQueued) {
  Callers callers;
  LeaseLine line;
  for (const auto& [id, device] : std::vector<std::pair<std::string, std::string>>{
           {"w1", "cpu"}, {"w2", "cuda:0"}, {"w3", "cpu"}, {"w4", "cuda:1"}, {"w5", "cpu"}}) {
    line.Join(callers.Add(id, device));
  }
  const auto gpu = line.TakeServable("cuda", 5);
  EXPECT_EQ(Ids(gpu), (std::vector<std::string>{"w2", "w4"}));
  for (const LeaseLine::Waiter* w : gpu) EXPECT_TRUE(w->taken);
  const auto any = line.TakeServable("", 2);
  EXPECT_EQ(Ids(any), (std::vector<std::string>{"w1", "w3"}));
  EXPECT_EQ(line.size(), 1u);
  EXPECT_EQ(Ids(line.TakeServable("cpu", 9)), (std::vector<std::string>{"w5"}));
  EXPECT_EQ(line.size(), 0u);
  EXPECT_TRUE(line.TakeServable("", 1).empty());
}

TEST(LeaseLineTest, ACallerThatHasGoneIsNotServedAndStaysUntilItLeaves) {
  Callers callers;
  LeaseLine line;
  LeaseLine::Waiter& gone = callers.Add("w1", "cpu", /*gone=*/true);
  line.Join(gone);
  line.Join(callers.Add("w2", "cpu"));
  EXPECT_EQ(Ids(line.TakeServable("", 2)), (std::vector<std::string>{"w2"}));
  EXPECT_FALSE(gone.taken);
  EXPECT_EQ(line.size(), 1u);
  line.Leave(gone);
  EXPECT_EQ(line.size(), 0u);
}

TEST(LeaseLineTest, ACallerLeavesFromAnywhereInTheLine) {
  Callers callers;
  LeaseLine line;
  line.Join(callers.Add("w1", "cpu"));
  LeaseLine::Waiter& middle = callers.Add("w2", "cpu");
  line.Join(middle);
  line.Join(callers.Add("w3", "cpu"));
  line.Leave(middle);
  EXPECT_EQ(Ids(line.TakeServable("", 3)), (std::vector<std::string>{"w1", "w3"}));
}

TEST(LeaseLineTest, WakesAtMostTheCountOfMatchingCallers) {
  // A signal with nobody waiting is lost, so a woken waiter is observed by waiting on
  // it with a timeout from another thread; here the line is checked to signal the
  // right ones by counting what each waiter's wait returns.
  Callers callers;
  LeaseLine line;
  absl::Mutex mu;
  std::vector<LeaseLine::Waiter*> all;
  for (const auto& [id, device] : std::vector<std::pair<std::string, std::string>>{
           {"w1", "cuda:0"}, {"w2", "cpu"}, {"w3", "cpu"}, {"w4", "cpu"}}) {
    all.push_back(&callers.Add(id, device));
    line.Join(*all.back());
  }
  std::vector<bool> woken(all.size(), false);
  std::vector<std::thread> threads;
  absl::Mutex ready_mu;
  int waiting = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    threads.emplace_back([&, i] {
      absl::MutexLock lock(&mu);
      {
        absl::MutexLock r(&ready_mu);
        ++waiting;
      }
      // Signalled: returns false before the timeout.
      woken[i] = !all[i]->cv.WaitWithTimeout(&mu, absl::Seconds(1));
    });
  }
  // Every thread is waiting once it released mu inside WaitWithTimeout.
  for (;;) {
    absl::SleepFor(absl::Milliseconds(10));
    absl::MutexLock r(&ready_mu);
    if (waiting == static_cast<int>(all.size())) break;
  }
  {
    absl::MutexLock lock(&mu);
    line.WakeMatching("cpu", 2);
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(woken, (std::vector<bool>{false, true, true, false}));
}

}  // namespace
}  // namespace vmle::agent
