// StepPool: the threads that step studies. A study queued for a step is stepped by one
// of the pool's threads; each study by one thread at a time, so its planner is never
// called concurrently while different studies plan at once. Requests coalesce: a
// study queued while it waits is stepped once, and one queued while it is being
// stepped is stepped once more after that step (nothing that arrived during a step
// is missed). Studies are stepped in the order they were queued.
//
// Threads: Queue and Stop are thread-safe. The step function runs on the pool's
// threads with no lock of the pool held, so it may take its owner's locks; the owner
// may call Queue while holding them (the pool's lock is always taken last).
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace vmle::agent {

class StepPool {
 public:
  using StepFunction = std::function<void(const std::string& key)>;

  // Starts `threads` (at least 1) threads that call `step`.
  StepPool(int threads, StepFunction step);
  // Stop().
  ~StepPool();
  StepPool(const StepPool&) = delete;
  StepPool& operator=(const StepPool&) = delete;

  // Asks for a step of `key` (see the coalescing above); ignored after Stop.
  void Queue(const std::string& key);

  // Drops the steps not started, waits for those running, joins the threads;
  // idempotent.
  void Stop();
  // Whether Stop has begun: a long step may end early.
  bool stopping() const;

 private:
  void Run();

  // A key with no entry in state_ is idle.
  enum class KeyState {
    kQueued,
    kStepping,
    kSteppingAgain,  // queued while being stepped: queued again when that step ends
  };

  const StepFunction step_;
  mutable absl::Mutex mu_;
  absl::CondVar work_cv_;
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);  // the kQueued keys, in order
  std::map<std::string, KeyState> state_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace vmle::agent
