// TrialHandoff: the lease queue's part in the write that stores a planning round's
// proposals. A trial proposed while a worker that can run it waits in LeaseTrial is
// stored queued and leased to that worker by the same write, instead of one write
// that queues it and a second, after a lease thread has found it, that leases it: one
// synced write less on the path from a result to the next trial, and no time queued
// with a worker idle. The lease queue (lease_queue.h) implements it; the planning
// driver (planning_driver.h) calls it.
//
// Contract (every call with the ledger's lock and the study's write slot held):
// - AssignLocked, before the write: takes waiting calls the study can serve (oldest
//   first, device matched, whose callers are still there, at most one per trial) and
//   turns the first n of `trials` (queued, in order) into running trials leased to
//   them, adding each one's TYPE_TRIAL_STARTED event to `events`. Returns the calls
//   taken (n of them), which have left the line.
// - SettleLocked, after the write, with its outcome: when it was stored, applies the
//   leases (lease deadlines, the workers busy) and puts each call's assignment in its
//   result; else each call's result is the write's error (the worker asks again).
// - The caller answers every call taken (LeaseLine::Waiter::Answer) after releasing
//   the lock, exactly once.
#pragma once

#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "services/agent/study/internal/study_entry.h"
#include "services/agent/study/lease_line.h"
#include "vmle/v1/study.pb.h"

namespace vmle::agent {

class TrialHandoff {
 public:
  virtual ~TrialHandoff() = default;

  virtual LeaseLine::Taken AssignLocked(internal::StudyEntry& entry, std::vector<vmle::v1::Trial>& trials,
                                        std::vector<vmle::v1::StudyEvent>& events) = 0;
  virtual void SettleLocked(internal::StudyEntry& entry, absl::Span<const vmle::v1::Trial> trials,
                            const absl::Status& written, LeaseLine::Taken& calls) = 0;
};

}  // namespace vmle::agent
