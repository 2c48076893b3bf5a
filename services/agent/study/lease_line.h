// LeaseLine: the LeaseTrial calls waiting for a trial, oldest first, and which of
// them a study can serve. Part of the lease queue: the StudyManager takes from the
// line every waiting caller a study can serve and leases them one queued trial each
// in one write (a group commit), then answers each through its Waiter.
//
// Contract: a caller joins once and, unless taken, leaves once. Taking a waiter
// removes it from the line and marks it taken; whoever took it answers it (done,
// with its result) and signals it. Device matching: a study asking for "" takes any
// worker, "cuda" any cuda:N, anything else that exact device (DeviceMatches).
//
// Threads: not synchronised. The owner guards the line, and the waiters' fields,
// with one lock of its own (StudyManager::mu_), and a waiter waits on its condition
// variable with that lock held.
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "vmle/v1/trial_queue.pb.h"

namespace vmle::agent {

// Whether a worker on `device` may run a study's trials that ask for `wanted` ("":
// any device; "cuda": any cuda:N; else that device).
bool DeviceMatches(const std::string& wanted, const std::string& device);

class LeaseLine {
 public:
  // One waiting LeaseTrial call; lives on that call's stack.
  struct Waiter {
    const vmle::v1::WorkerInfo* worker = nullptr;
    // Whether its caller has gone (thread-safe: gRPC's ServerContext::IsCancelled).
    const std::function<bool()>* cancelled = nullptr;
    // Taken out of the line by the call that leases to it; done once that call's
    // write returned, with `result`.
    bool taken = false;
    bool done = false;
    absl::StatusOr<vmle::v1::TrialAssignment> result = absl::UnknownError("not leased");
    // Signalled when it is done, or when a study has a trial it may lease.
    absl::CondVar cv;

   private:
    friend class LeaseLine;
    std::list<Waiter*>::iterator position_;
  };

  // Puts `waiter` at the end of the line.
  void Join(Waiter& waiter);
  // Takes `waiter` out of the line; it must be in it (joined and not taken).
  void Leave(Waiter& waiter);

  // Takes out of the line, oldest first, up to `max` waiters whose worker's device
  // `wanted_device` matches and whose caller is still there, and marks them taken.
  std::vector<Waiter*> TakeServable(const std::string& wanted_device, size_t max);

  // Signals up to `count` waiters (oldest first) that could lease a trial of a
  // study asking for `wanted_device`.
  void WakeMatching(const std::string& wanted_device, int count);
  // Signals every waiter (shutdown).
  void WakeAll();

  size_t size() const { return line_.size(); }

 private:
  std::list<Waiter*> line_;
};

}  // namespace vmle::agent
