// A cap on the calls one caller (auth/caller.h) may hold open at once: each
// WatchStudy stream holds a server thread and each waiting LeaseTrial long-poll a
// place in the lease line, so a caller that opens them without bound could starve
// everyone else.
//
// Usage:
//   absl::StatusOr<CallerSlots::Slot> slot = watches_.Acquire(auth::CallerOf(context));
//   if (!slot.ok()) return ToGrpcStatus(slot.status());   // RESOURCE_EXHAUSTED
//   ... the call; the slot is released when `slot` goes out of scope.
//
// Thread-safe.
#pragma once

#include <map>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace vmle::agent {

class CallerSlots {
 public:
  // Releases its slot when destroyed.
  class Slot {
   public:
    Slot(Slot&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)), caller_(std::move(other.caller_)) {}
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    Slot& operator=(Slot&&) = delete;
    ~Slot() {
      if (owner_ != nullptr) owner_->Release(caller_);
    }

   private:
    friend class CallerSlots;
    Slot(CallerSlots* owner, std::string caller) : owner_(owner), caller_(std::move(caller)) {}
    CallerSlots* owner_;
    std::string caller_;
  };

  // `per_caller` <= 0: no cap. `what` and `flag` name the calls and the flag that
  // sets the cap in the refusal ("LeaseTrial long-polls", "--max_long_polls_per_caller").
  CallerSlots(int per_caller, std::string what, std::string flag)
      : per_caller_(per_caller), what_(std::move(what)), flag_(std::move(flag)) {}

  // A slot, or RESOURCE_EXHAUSTED when `caller` already holds per_caller of them.
  absl::StatusOr<Slot> Acquire(const std::string& caller) {
    absl::MutexLock lock(&mu_);
    int& open = open_[caller];
    if (per_caller_ > 0 && open >= per_caller_) {
      return absl::ResourceExhaustedError(absl::StrCat("this caller already holds ", open, " ", what_,
                                                       ", the most allowed (", flag_, ")"));
    }
    ++open;
    return Slot(this, caller);
  }

  // Open slots of `caller` (tests, metrics).
  int Open(const std::string& caller) const {
    absl::MutexLock lock(&mu_);
    auto it = open_.find(caller);
    return it == open_.end() ? 0 : it->second;
  }

 private:
  void Release(const std::string& caller) {
    absl::MutexLock lock(&mu_);
    auto it = open_.find(caller);
    if (it != open_.end() && --it->second <= 0) open_.erase(it);
  }

  const int per_caller_;
  const std::string what_;
  const std::string flag_;
  mutable absl::Mutex mu_;
  std::map<std::string, int> open_;
};

}  // namespace vmle::agent
