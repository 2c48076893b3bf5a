// WatchHub through its header: replay and live events in order and once, the end of
// a study, stale publishes, and how a watch ends.
#include "services/agent/study/watch_hub.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"

namespace vmle::agent {
namespace {

using vmle::v1::StudyEvent;

std::vector<StudyEvent> Events(int64_t first, int64_t last) {
  std::vector<StudyEvent> out;
  for (int64_t s = first; s <= last; ++s) {
    StudyEvent e;
    e.set_study_id("st-1");
    e.set_sequence(s);
    e.set_message("event " + std::to_string(s));
    out.push_back(e);
  }
  return out;
}

auto Never() {
  return [] { return false; };
}

// A watch of st-1 on its own thread: records the sequences it is written and says
// once it has written `caught_up_at`.
class BackgroundWatch {
 public:
  BackgroundWatch(WatchHub& hub, int64_t after, int64_t caught_up_at)
      : thread_([this, &hub, after, caught_up_at] {
          status_ = hub.Watch(
              "st-1", after,
              [this, caught_up_at](const StudyEvent& e) {
                seen_.push_back(e.sequence());
                if (e.sequence() == caught_up_at) caught_up_.Notify();
                return true;
              },
              Never());
        }) {}

  void WaitUntilCaughtUp() { caught_up_.WaitForNotification(); }
  // Joins the thread; then status() and seen() are the watch's.
  void Join() { thread_.join(); }
  const absl::Status& status() const { return status_; }
  const std::vector<int64_t>& seen() const { return seen_; }

 private:
  absl::Notification caught_up_;
  absl::Status status_;
  std::vector<int64_t> seen_;
  std::thread thread_;  // last: starts once the members it uses exist
};

TEST(WatchHubTest, ReplaysAfterTheSequenceThenFollowsLiveEventsUntilTheStudyEnds) {
  WatchHub hub(absl::Milliseconds(20));
  hub.Publish("st-1", Events(1, 3), /*ended=*/false, /*version=*/1);
  BackgroundWatch watch(hub, /*after=*/1, /*caught_up_at=*/3);
  watch.WaitUntilCaughtUp();
  hub.Publish("st-1", Events(4, 5), false, 2);
  hub.Publish("st-1", Events(6, 6), /*ended=*/true, 3);
  watch.Join();
  EXPECT_TRUE(watch.status().ok()) << watch.status();
  EXPECT_EQ(watch.seen(), (std::vector<int64_t>{2, 3, 4, 5, 6}));
}

TEST(WatchHubTest, EventsPublishedAgainAreHeldOnce) {
  WatchHub hub;
  hub.Publish("st-1", Events(1, 3), false, 1);
  hub.Publish("st-1", Events(1, 4), true, 2);  // a study read again, one event more
  EXPECT_EQ(hub.LastSequence("st-1"), 4);
  std::vector<int64_t> seen;
  ASSERT_TRUE(hub.Watch("st-1", 0, [&](const StudyEvent& e) { seen.push_back(e.sequence()); return true; },
                        Never())
                  .ok());
  EXPECT_EQ(seen, (std::vector<int64_t>{1, 2, 3, 4}));
}

TEST(WatchHubTest, AnOlderVersionDoesNotReopenAnEndedStudy) {
  WatchHub hub(absl::Milliseconds(10));
  hub.Publish("st-1", Events(1, 2), /*ended=*/true, /*version=*/5);
  hub.Publish("st-1", Events(1, 1), /*ended=*/false, /*version=*/4);  // a read that raced the last write
  int written = 0;
  // Reopened, the watch would wait for more events until this gives up (CANCELLED).
  const absl::Time give_up = absl::Now() + absl::Seconds(2);
  EXPECT_TRUE(hub.Watch("st-1", 0, [&](const StudyEvent&) { return ++written > 0; },
                        [&] { return absl::Now() > give_up; })
                  .ok());
  EXPECT_EQ(written, 2);
}

TEST(WatchHubTest, UnknownStudyIsNotFound) {
  WatchHub hub;
  EXPECT_TRUE(absl::IsNotFound(hub.Watch("st-none", 0, [](const StudyEvent&) { return true; }, Never())));
  EXPECT_EQ(hub.LastSequence("st-none"), 0);
}

TEST(WatchHubTest, AWatcherThatStopsWritingOrGoesAwayReturns) {
  WatchHub hub(absl::Milliseconds(10));
  hub.Publish("st-1", Events(1, 3), false, 1);
  int written = 0;
  EXPECT_TRUE(hub.Watch("st-1", 0, [&](const StudyEvent&) { return ++written < 2; }, Never()).ok());
  EXPECT_EQ(written, 2);
  std::atomic<int> polls{0};
  EXPECT_TRUE(absl::IsCancelled(hub.Watch("st-1", 3, [](const StudyEvent&) { return true; },
                                          [&] { return ++polls >= 3; })));
}

TEST(WatchHubTest, StopEndsWaitingWatchersNamingWhereToResume) {
  WatchHub hub(absl::Seconds(60));  // only Stop can end the wait
  hub.Publish("st-1", Events(1, 2), false, 1);
  BackgroundWatch watch(hub, /*after=*/0, /*caught_up_at=*/2);
  watch.WaitUntilCaughtUp();
  hub.Stop();
  watch.Join();
  EXPECT_TRUE(absl::IsUnavailable(watch.status())) << watch.status();
  EXPECT_NE(watch.status().message().find("from sequence 2"), std::string::npos) << watch.status();
  // And later watchers end at once.
  EXPECT_TRUE(absl::IsUnavailable(hub.Watch("st-1", 2, [](const StudyEvent&) { return true; }, Never())));
}

TEST(WatchHubTest, APublishWakesOnlyItsOwnStudysWatchers) {
  WatchHub hub(absl::Seconds(60));  // no polling: only a publish to the study wakes it
  hub.Publish("st-1", Events(1, 1), false, 1);
  hub.Publish("st-2", {}, false, 1);
  std::atomic<int> wakes{0};
  absl::Notification waiting;
  std::thread watcher([&] {
    EXPECT_TRUE(hub.Watch(
                       "st-1", 0, [&](const StudyEvent&) { return true; },
                       // Asked under the hub's lock right before each wait: once it is
                       // asked, the next Publish can only run once the watcher waits.
                       [&] {
                         if (++wakes == 1) waiting.Notify();
                         return false;
                       })
                    .ok());
  });
  waiting.WaitForNotification();
  for (int i = 0; i < 50; ++i) {
    hub.Publish("st-2", {}, false, 1 + i);
    absl::SleepFor(absl::Milliseconds(1));
  }
  const int after_other_study = wakes.load();
  hub.Publish("st-1", Events(2, 2), true, 2);
  watcher.join();
  // The watcher asks `cancelled` before each wait: once before its first, and not
  // again for st-2's publishes (a shared wake-up would count about 50; a rare
  // spurious wake-up a few).
  EXPECT_LT(after_other_study, 10);
}

}  // namespace
}  // namespace vmle::agent
