// StepPool through its header: one thread per key at a time, keys in parallel,
// coalesced requests, a request during a step is not lost, Stop.
#include "services/agent/study/step_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace vmle::agent {
namespace {

// Waits (up to 10 s) until `done` holds, checking under `mu`.
template <typename F>
bool Eventually(absl::Mutex& mu, F done) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  for (;;) {
    {
      absl::MutexLock lock(&mu);
      if (done()) return true;
    }
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
}

TEST(StepPoolTest, AKeyIsSteppedByOneThreadAtATime) {
  absl::Mutex mu;
  std::map<std::string, int> inside, most_inside, steps;
  StepPool pool(4, [&](const std::string& key) {
    {
      absl::MutexLock lock(&mu);
      most_inside[key] = std::max(most_inside[key], ++inside[key]);
    }
    absl::SleepFor(absl::Milliseconds(5));
    absl::MutexLock lock(&mu);
    --inside[key];
    ++steps[key];
  });
  for (int round = 0; round < 20; ++round) {
    for (const std::string key : {"a", "b", "c"}) pool.Queue(key);
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_TRUE(Eventually(mu, [&] {
    return steps["a"] >= 2 && steps["b"] >= 2 && steps["c"] >= 2 && inside["a"] + inside["b"] + inside["c"] == 0;
  }));
  pool.Stop();
  for (const std::string key : {"a", "b", "c"}) EXPECT_EQ(most_inside[key], 1) << key;
}

TEST(StepPoolTest, DifferentKeysAreSteppedAtOnce) {
  // "a" waits inside its step for "b" to start: only a pool that steps them at once
  // lets it see that.
  absl::Notification b_started;
  std::atomic<bool> a_saw_b{false};
  absl::Notification a_done;
  StepPool pool(2, [&](const std::string& key) {
    if (key == "a") {
      a_saw_b = b_started.WaitForNotificationWithTimeout(absl::Seconds(10));
      a_done.Notify();
    } else {
      b_started.Notify();
    }
  });
  pool.Queue("a");
  pool.Queue("b");
  a_done.WaitForNotification();
  EXPECT_TRUE(a_saw_b);
}

TEST(StepPoolTest, RequestsWhileQueuedCoalesceAndOneDuringAStepRunsItOnceMore) {
  absl::Mutex mu;
  int steps = 0;
  absl::Notification first_started, release_first;
  StepPool pool(2, [&](const std::string&) {
    bool first;
    {
      absl::MutexLock lock(&mu);
      first = ++steps == 1;
    }
    if (first) {
      first_started.Notify();
      release_first.WaitForNotification();
    }
  });
  pool.Queue("s");
  first_started.WaitForNotification();
  // Three requests while the first step runs: one more step, not three, and not zero.
  pool.Queue("s");
  pool.Queue("s");
  pool.Queue("s");
  release_first.Notify();
  ASSERT_TRUE(Eventually(mu, [&] { return steps == 2; }));
  absl::SleepFor(absl::Milliseconds(50));
  absl::MutexLock lock(&mu);
  EXPECT_EQ(steps, 2);
}

TEST(StepPoolTest, StopWaitsForRunningStepsAndDropsQueuedOnes) {
  std::atomic<int> steps{0};
  std::atomic<bool> running_finished{false};
  absl::Notification started;
  StepPool* self = nullptr;
  StepPool pool(1, [&](const std::string& key) {
    ++steps;
    if (key == "slow") {
      started.Notify();
      // Runs until Stop has begun (and dropped the queued steps).
      const absl::Time give_up = absl::Now() + absl::Seconds(10);
      while (!self->stopping() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
      running_finished = true;
    }
  });
  self = &pool;
  pool.Queue("slow");
  started.WaitForNotification();
  pool.Queue("later-1");
  pool.Queue("later-2");
  pool.Stop();
  EXPECT_TRUE(running_finished);
  EXPECT_EQ(steps.load(), 1);
  pool.Queue("after-stop");  // ignored
  pool.Stop();               // idempotent
  EXPECT_EQ(steps.load(), 1);
}

TEST(StepPoolTest, KeysAreSteppedInTheOrderTheyWereQueued) {
  absl::Mutex mu;
  std::vector<std::string> order;
  absl::Notification hold_started, release;
  StepPool pool(1, [&](const std::string& key) {
    if (key == "hold") {
      hold_started.Notify();
      release.WaitForNotification();
      return;
    }
    absl::MutexLock lock(&mu);
    order.push_back(key);
  });
  pool.Queue("hold");
  hold_started.WaitForNotification();
  // The second "a" joins the first; "z" comes last, after anything queued before it.
  for (const std::string key : {"c", "a", "b", "a", "z"}) pool.Queue(key);
  release.Notify();
  ASSERT_TRUE(Eventually(mu, [&] { return !order.empty() && order.back() == "z"; }));
  absl::MutexLock lock(&mu);
  EXPECT_EQ(order, (std::vector<std::string>{"c", "a", "b", "z"}));
}

}  // namespace
}  // namespace vmle::agent
