// LeaseLine through its header: the order callers are served in, device matching,
// callers that have gone, waits that end, withdrawal by ticket, and that every
// waiter taken out is answered through its own `done`.
#include "services/agent/study/lease_line.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace vmle::agent {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1000);

// A waiter for `worker_id` on `device`; *gone says whether its caller has gone, and
// *answers counts its answers.
std::unique_ptr<LeaseLine::Waiter> Caller(const std::string& worker_id, const std::string& device,
                                          absl::Duration wait = absl::Seconds(30), const bool* gone = nullptr,
                                          int* answers = nullptr) {
  static uint64_t next_ticket = 1;
  auto w = std::make_unique<LeaseLine::Waiter>();
  w->ticket = next_ticket++;
  w->worker.set_worker_id(worker_id);
  w->worker.set_device(device);
  w->deadline = kStart + wait;
  if (gone != nullptr) w->cancelled = [gone] { return *gone; };
  w->done = [answers](absl::StatusOr<vmle::v1::LeaseTrialResponse>) {
    if (answers != nullptr) ++*answers;
  };
  return w;
}

std::vector<std::string> Ids(const LeaseLine::Taken& ws) {
  std::vector<std::string> out;
  for (const auto& w : ws) out.push_back(w->worker.worker_id());
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
  LeaseLine line;
  for (const auto& [id, device] : std::vector<std::pair<std::string, std::string>>{
           {"w1", "cpu"}, {"w2", "cuda:0"}, {"w3", "cpu"}, {"w4", "cuda:1"}, {"w5", "cpu"}}) {
    line.Join(Caller(id, device));
  }
  EXPECT_EQ(line.Devices(), (std::vector<std::string>{"cpu", "cuda:0", "cuda:1"}));
  EXPECT_TRUE(line.AnyMatching("cuda"));
  EXPECT_FALSE(line.AnyMatching("cuda:7"));
  EXPECT_EQ(Ids(line.TakeServable("cuda", 5)), (std::vector<std::string>{"w2", "w4"}));
  EXPECT_FALSE(line.AnyMatching("cuda"));
  EXPECT_EQ(Ids(line.TakeServable("", 2)), (std::vector<std::string>{"w1", "w3"}));
  EXPECT_EQ(line.size(), 1u);
  EXPECT_EQ(Ids(line.TakeServable("cpu", 9)), (std::vector<std::string>{"w5"}));
  EXPECT_EQ(line.size(), 0u);
  EXPECT_TRUE(line.TakeServable("", 1).empty());
  EXPECT_TRUE(line.Devices().empty());
}

TEST(LeaseLineTest, ACallerThatHasGoneIsNotServedAndEndsWithTheExpiredOnes) {
  LeaseLine line;
  bool gone = false;
  line.Join(Caller("w1", "cpu", absl::Seconds(30), &gone));
  line.Join(Caller("w2", "cpu", absl::Seconds(5)));
  line.Join(Caller("w3", "cpu", absl::Seconds(60)));
  EXPECT_EQ(line.NextDeadline(), kStart + absl::Seconds(5));
  EXPECT_TRUE(line.TakeExpired(kStart + absl::Seconds(4)).empty());
  gone = true;
  // w1 has gone, w2's wait has ended; w3 still waits.
  EXPECT_EQ(Ids(line.TakeExpired(kStart + absl::Seconds(5))), (std::vector<std::string>{"w1", "w2"}));
  EXPECT_EQ(line.size(), 1u);
  EXPECT_EQ(line.NextDeadline(), kStart + absl::Seconds(60));
  gone = false;
  bool w4_gone = true;
  line.Join(Caller("w4", "cpu", absl::Seconds(60), &w4_gone));
  EXPECT_EQ(Ids(line.TakeServable("", 2)), (std::vector<std::string>{"w3"}));
  EXPECT_EQ(line.size(), 1u);
  EXPECT_EQ(line.TakeAll().size(), 1u);
  EXPECT_EQ(line.NextDeadline(), absl::InfiniteFuture());
}

TEST(LeaseLineTest, ACallerIsWithdrawnByItsTicketFromAnywhereInTheLineOnce) {
  LeaseLine line;
  const uint64_t first = line.Join(Caller("w1", "cpu"));
  const uint64_t middle = line.Join(Caller("w2", "cpu"));
  const uint64_t last = line.Join(Caller("w3", "cpu"));
  EXPECT_NE(first, 0u);
  EXPECT_NE(first, middle);
  EXPECT_NE(middle, last);
  std::unique_ptr<LeaseLine::Waiter> w = line.Withdraw(middle);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->worker.worker_id(), "w2");
  EXPECT_EQ(line.Withdraw(middle), nullptr);
  EXPECT_EQ(line.Withdraw(0), nullptr);
  EXPECT_EQ(Ids(line.TakeServable("", 3)), (std::vector<std::string>{"w1", "w3"}));
  // Taken callers are no longer withdrawable: whoever took them answers them.
  EXPECT_EQ(line.Withdraw(first), nullptr);
  EXPECT_EQ(line.Withdraw(last), nullptr);
}

TEST(LeaseLineTest, AWaiterIsAnsweredThroughItsOwnDoneWithItsResult) {
  LeaseLine line;
  int answers = 0;
  std::string leased;
  auto w = Caller("w1", "cpu", absl::Seconds(30), nullptr, &answers);
  w->done = [&](absl::StatusOr<vmle::v1::LeaseTrialResponse> r) {
    ++answers;
    ASSERT_TRUE(r.ok());
    leased = r->assignment().trial_id();
  };
  line.Join(std::move(w));
  LeaseLine::Taken taken = line.TakeServable("", 1);
  ASSERT_EQ(taken.size(), 1u);
  taken[0]->result->mutable_assignment()->set_trial_id("t-7");
  taken[0]->Answer();
  EXPECT_EQ(answers, 1);
  EXPECT_EQ(leased, "t-7");
}

}  // namespace
}  // namespace vmle::agent
