// StudyLedger: the studies the agent holds, and the only way their stored state
// changes. Part of the agent's core (study_manager.h is its facade).
//
// Contract:
// - An entry (internal/study_entry.h) holds a study's stored records (study, trials)
//   and its volatile bookkeeping (queue order, leases, stop requests). Its stored
//   records change only through Commit, which writes them through the memory service
//   first and applies them after the write is acknowledged: nothing is applied, or
//   published to the WatchHub, that is not stored. A study's counters, best and noise
//   are recounted with the written trials (internal/ranking.h) on the way.
// - Every change of a study holds its write slot (WriteSlot) from the decision until
//   its write is applied, so each study's changes are ordered; different studies
//   commit concurrently. A write whose outcome is unknown (the memory service did not
//   answer, or holds a newer version) marks the study stale: the next slot re-reads
//   its stored record, trials and new events before anything else changes.
// - Studies are added when submitted (Create), reloaded when unfinished at start
//   (ReloadUnfinished), or read on first use (FindOrLoad); never removed while the
//   ledger lives, so an entry pointer stays valid across a released lock.
// - Until ReloadUnfinished has run, and after Stop, CheckServing answers UNAVAILABLE.
//
// Threads: one mutex (mu()) guards every entry and the ledger's maps; the other parts
// of the core take it to read or change entries (the *Locked methods require it). No
// call to the memory service is made while it is held: Commit, Refresh and FindOrLoad
// release it during their calls, and a caller must not rely on anything it read
// before such a call except what its held write slot protects. An entry's `planner`
// is the exception: only the thread stepping the study touches it.
//
// Errors: INVALID_ARGUMENT naming the field; NOT_FOUND for an unknown study or trial
// id (the id bounded); UNAVAILABLE when the memory service cannot be reached or a
// study's write slot stays busy (nothing applied; the caller retries).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "services/agent/planner/planner.h"
#include "services/agent/study/internal/study_entry.h"
#include "services/agent/study/memory_client.h"
#include "services/agent/study/watch_hub.h"
#include "vmle/v1/study.pb.h"

namespace vmle::agent {

// Builds the planner of a study (planner/planner_factory.h by default), given its spec
// and its id.
using PlannerMaker =
    std::function<absl::StatusOr<std::unique_ptr<Planner>>(const vmle::v1::PlannerSpec&, const std::string&)>;

class StudyLedger {
 public:
  using StudyEntry = internal::StudyEntry;
  using Studies = std::map<std::string, std::unique_ptr<StudyEntry>>;

  struct Options {
    // The system of record (writes and reloads, with its retries); not owned, must
    // outlive the ledger.
    MemoryClient* memory = nullptr;
    // Where stored events are published; not owned, must outlive the ledger.
    WatchHub* watch_hub = nullptr;
    // Builds a study's planner when its entry is made (a finished study may have none).
    PlannerMaker make_planner;
    // A trial found running when a study is read gets this long for its worker to check
    // in; none (it expires at once) when the workers do not survive an agent restart.
    absl::Duration lease_duration = absl::Seconds(60);
    bool workers_survive_restart = true;
    // Called, with mu() held, each time a study's write slot is released (the study
    // may be leased from again).
    std::function<void(const StudyEntry&)> slot_released;
  };

  // Longest wait for a study's write slot before a change answers UNAVAILABLE.
  static constexpr absl::Duration kSlotWait = absl::Seconds(3);

  explicit StudyLedger(Options options);
  StudyLedger(const StudyLedger&) = delete;
  StudyLedger& operator=(const StudyLedger&) = delete;

  absl::Mutex& mu() const ABSL_LOCK_RETURNED(mu_) { return mu_; }

  // Memory calls in progress give up, slot waits end (UNAVAILABLE), and CheckServing
  // answers UNAVAILABLE from now on; idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);
  bool StoppingLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; }

  // Reads every pending or running study from the memory service (no lock held while
  // reading) and holds them; a study that cannot be read for another reason than an
  // unreachable service is logged and skipped. Returns the number of studies read;
  // UNAVAILABLE (nothing held) when the service does not answer.
  absl::StatusOr<int> ReloadUnfinished() ABSL_LOCKS_EXCLUDED(mu_);
  // UNAVAILABLE while the unfinished studies are being reloaded or after Stop().
  absl::Status CheckServingLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The held study, or null.
  StudyEntry* FindLocked(const std::string& study_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A held study, or one read from the memory service with one quick try (mu()
  // released meanwhile): INVALID_ARGUMENT for "", NOT_FOUND, or UNAVAILABLE when the
  // service does not answer.
  absl::StatusOr<StudyEntry*> FindOrLoadLocked(const std::string& study_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The held study that has the trial; NOT_FOUND naming the id when none has.
  absl::StatusOr<StudyEntry*> StudyOfTrialLocked(const std::string& trial_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Every held study, by id.
  const Studies& StudiesLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return studies_; }

  // A new entry for `study` (not held yet): its spaces, and its planner when active.
  absl::StatusOr<std::unique_ptr<StudyEntry>> NewEntry(const vmle::v1::Study& study) const;
  // Stores a new study (its entry from NewEntry) with `events` and holds it; nobody
  // sees it before it is stored. ALREADY_EXISTS when the id is held.
  absl::StatusOr<StudyEntry*> CreateLocked(std::unique_ptr<StudyEntry> entry, std::vector<vmle::v1::StudyEvent> events)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // A study's write slot, released (with mu() held) when it goes out of scope.
  // Acquire waits up to `wait` for the change in flight (UNAVAILABLE after it, or at
  // Stop), then re-reads the study when its last write's outcome is unknown. Waiting
  // releases mu().
  class WriteSlot {
   public:
    WriteSlot(StudyLedger& ledger, StudyEntry& entry) : ledger_(ledger), entry_(entry) {}
    ~WriteSlot();
    WriteSlot(const WriteSlot&) = delete;
    WriteSlot& operator=(const WriteSlot&) = delete;
    absl::Status Acquire(absl::Duration wait);

   private:
    StudyLedger& ledger_;
    StudyEntry& entry_;
    bool held_ = false;
  };

  // Writes `study` and `trials` (several of the study, each with its own number: a
  // group commit) with `events` (given their sequence numbers and the study's state)
  // through the memory service, then applies them to `entry` and publishes the
  // events. The study's counters, best and noise are recounted with the trials first.
  // The entry's write slot must be held; mu() is released during the write. Nothing
  // is applied on error.
  absl::Status CommitLocked(StudyEntry& entry, vmle::v1::Study study, absl::Span<const vmle::v1::Trial> trials,
                            std::vector<vmle::v1::StudyEvent> events) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The same with one trial, or none when `trial` is null.
  absl::Status CommitLocked(StudyEntry& entry, vmle::v1::Study study, const vmle::v1::Trial* trial,
                            std::vector<vmle::v1::StudyEvent> events) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return CommitLocked(entry, std::move(study), absl::Span<const vmle::v1::Trial>(trial, trial == nullptr ? 0 : 1),
                        std::move(events));
  }
  // CommitLocked for a `study` whose counters, best and noise already count `trials`,
  // for a caller that needed them to word its events.
  absl::Status WriteRecountedLocked(StudyEntry& entry, vmle::v1::Study study, absl::Span<const vmle::v1::Trial> trials,
                                    std::vector<vmle::v1::StudyEvent> events) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // An event of the study, stamped now (its sequence is set when it is committed).
  static vmle::v1::StudyEvent MakeEvent(const StudyEntry& entry, vmle::v1::StudyEvent::Type type,
                                        const std::string& trial_id, std::string message);

  // The client for lookups that answer a caller: one quick try.
  MemoryClient& lookup() { return *lookup_; }

 private:
  // Reads a study's trials, events and memory through `memory` (no lock held) and
  // publishes its events. Fixed values stored as text before values were typed are read
  // as their settings' types (study_spec.h, TypeStoredValues).
  absl::StatusOr<std::unique_ptr<StudyEntry>> LoadEntry(const vmle::v1::Study& study, MemoryClient& memory);
  // Holds `entry` (read by LoadEntry) unless its study is held already; the one held.
  StudyEntry* HoldLocked(std::unique_ptr<StudyEntry> entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Re-reads a study's stored record, trials and new events (mu() released meanwhile)
  // after a write whose outcome is unknown; the slot is held.
  absl::Status RefreshLocked(StudyEntry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  MemoryClient& memory_;
  std::unique_ptr<MemoryClient> lookup_;
  WatchHub& watch_hub_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool loaded_ ABSL_GUARDED_BY(mu_) = false;
  Studies studies_ ABSL_GUARDED_BY(mu_);
  // Trial id -> study id, for the calls that name a trial.
  absl::flat_hash_map<std::string, std::string> study_of_trial_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vmle::agent
