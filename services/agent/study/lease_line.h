// LeaseLine: the LeaseTrial calls waiting for a trial, oldest first, and which of
// them a study can serve. Part of the lease queue: a waiting call holds no thread,
// only its place in this line. The LeaseQueue's lease threads take from the line
// every waiting call a study can serve and lease them one queued trial each in one
// write (a group commit), then answer each through its `done`.
//
// Contract: each call comes with its owner's ticket (unique, never 0), by which it
// can be withdrawn before it has joined too. A call leaves the line exactly once, and
// whoever takes it out answers it exactly once (never with a lock held): taken for a
// study (TakeServable), at the end of its wait or once its caller has gone
// (TakeExpired), withdrawn by its ticket (Withdraw), or at shutdown (TakeAll).
// Device matching: a study asking for "" takes any worker, "cuda" any cuda:N,
// anything else that exact device (DeviceMatches).
//
// Threads: not synchronised; the owner guards the line (the LeaseQueue, with the
// ledger's lock).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "vmle/v1/trial_queue.pb.h"

namespace vmle::agent {

// Whether a worker on `device` may run a study's trials that ask for `wanted` ("":
// any device; "cuda": any cuda:N; else that device).
bool DeviceMatches(const std::string& wanted, const std::string& device);

class LeaseLine {
 public:
  // The answer to one LeaseTrial call: a trial, an empty response (the wait ended
  // without one), or an error.
  using Done = std::function<void(absl::StatusOr<vmle::v1::LeaseTrialResponse>)>;

  // One waiting LeaseTrial call.
  struct Waiter {
    // Given by the owner: unique, never 0.
    uint64_t ticket = 0;
    vmle::v1::WorkerInfo worker;
    // When the call's wait ends with an empty response.
    absl::Time deadline = absl::InfiniteFuture();
    // Whether its caller has gone (thread-safe; may be empty: never).
    std::function<bool()> cancelled;
    // Called once with `result` by whoever took the waiter out of the line.
    Done done;
    absl::StatusOr<vmle::v1::LeaseTrialResponse> result = vmle::v1::LeaseTrialResponse();
    // Calls `done` with `result`.
    void Answer() { done(std::move(result)); }

    bool gone() const { return cancelled && cancelled(); }
  };
  using Taken = std::vector<std::unique_ptr<Waiter>>;

  // Puts `waiter` at the end of the line; its ticket.
  uint64_t Join(std::unique_ptr<Waiter> waiter);
  // Takes the waiter of `ticket` out of the line; null when it is no longer in it.
  std::unique_ptr<Waiter> Withdraw(uint64_t ticket);

  // Takes out of the line, oldest first, up to `max` waiters whose worker's device
  // `wanted_device` matches and whose caller is still there.
  Taken TakeServable(const std::string& wanted_device, size_t max);
  // Takes out the waiters whose wait has ended by `now` or whose caller has gone.
  Taken TakeExpired(absl::Time now);
  // Takes out every waiter (shutdown).
  Taken TakeAll();

  // The devices of the waiting workers, each once, in the order of their oldest
  // waiter: whom to find a study for.
  std::vector<std::string> Devices() const;
  // Whether a waiter a study asking for `wanted_device` could serve is in the line.
  bool AnyMatching(const std::string& wanted_device) const;
  // The earliest end of a wait; InfiniteFuture when the line is empty.
  absl::Time NextDeadline() const;

  size_t size() const { return line_.size(); }

 private:
  // Takes out, oldest first, up to `max` waiters for which `take` holds.
  Taken TakeWhere(const std::function<bool(const Waiter&)>& take, size_t max);

  using Line = std::list<std::pair<uint64_t, std::unique_ptr<Waiter>>>;
  Line line_;
  absl::flat_hash_map<uint64_t, Line::iterator> by_ticket_;
};

}  // namespace vmle::agent
