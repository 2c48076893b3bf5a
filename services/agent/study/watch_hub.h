// WatchHub: the event log of every study the agent holds, and the WatchStudy calls
// that follow it.
//
// Contract: the study ledger (study_ledger.h) publishes a study's events after they
// are stored and applied, in sequence order, together with whether the study has
// ended (no longer active and no trial running). A watcher gets every event after
// the sequence it names, in order and each once, then the live ones, and returns
// once the study has ended and it has written every event. Nothing here writes to
// the memory service: the log holds only what was already stored.
//
// Threads: every method is thread-safe. The hub has its own lock, never held while a
// watcher writes to its stream, and each study its own condition variable, so a
// publish wakes only that study's watchers and a watcher never waits on the
// ledger's lock. Watch blocks; Stop wakes and ends every watcher.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "vmle/v1/study_service.pb.h"

namespace vmle::agent {

class WatchHub {
 public:
  // How often a waiting watcher asks `cancelled` whether its caller went away.
  explicit WatchHub(absl::Duration cancel_poll = absl::Milliseconds(500)) : cancel_poll_(cancel_poll) {}
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Appends `events` (sequence ascending) to the study's log, skipping those at or
  // below the last sequence it holds (a study read twice publishes its events
  // twice), records whether the study at stored `version` has ended, and wakes its
  // watchers. A publish of an older version than one already seen (a read that raced
  // a later write) does not change whether it has ended.
  void Publish(const std::string& study_id, std::vector<vmle::v1::StudyEvent> events, bool ended,
               int64_t version);

  // Calls `write` with every event of the study after `after_sequence`, then with
  // live ones, until the study has ended and every event was written (OK), `write`
  // returns false (OK), `cancelled` returns true (CANCELLED), or Stop is called
  // (UNAVAILABLE, naming the sequence to watch again from). NOT_FOUND when nothing
  // was ever published for the study.
  absl::Status Watch(const std::string& study_id, int64_t after_sequence,
                     const std::function<bool(const vmle::v1::StudyEvent&)>& write,
                     const std::function<bool()>& cancelled);

  // Ends every watcher (UNAVAILABLE) now and later; idempotent.
  void Stop();

  // The highest sequence held for the study, 0 when none.
  int64_t LastSequence(const std::string& study_id) const;

 private:
  struct Log {
    std::vector<vmle::v1::StudyEvent> events;  // sequence ascending
    bool ended = false;
    int64_t version = -1;  // of the study when `ended` was set
    absl::CondVar changed;
  };

  const absl::Duration cancel_poll_;
  mutable absl::Mutex mu_;
  // Logs are never removed while the hub lives (the ledger keeps every study it
  // has read), so a watcher may hold a Log pointer across waits.
  std::map<std::string, std::unique_ptr<Log>> logs_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace vmle::agent
