#include "services/agent/study/step_pool.h"

#include <algorithm>
#include <utility>

namespace vmle::agent {

StepPool::StepPool(int threads, StepFunction step) : step_(std::move(step)) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { Run(); });
}

StepPool::~StepPool() { Stop(); }

void StepPool::Queue(const std::string& key) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  const auto [it, idle] = state_.try_emplace(key, KeyState::kQueued);
  if (idle) {
    queue_.push_back(key);
    work_cv_.Signal();
  } else if (it->second == KeyState::kStepping) {
    it->second = KeyState::kSteppingAgain;
  }
}

void StepPool::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (const std::string& key : queue_) state_.erase(key);
    queue_.clear();
    work_cv_.SignalAll();
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

bool StepPool::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

void StepPool::Run() {
  absl::MutexLock lock(&mu_);
  for (;;) {
    while (queue_.empty() && !stopping_) work_cv_.Wait(&mu_);
    if (stopping_) return;
    std::string key = std::move(queue_.front());
    queue_.pop_front();
    state_[key] = KeyState::kStepping;
    mu_.Unlock();
    step_(key);
    mu_.Lock();
    auto it = state_.find(key);
    if (it->second == KeyState::kSteppingAgain && !stopping_) {
      it->second = KeyState::kQueued;
      queue_.push_back(std::move(key));
      work_cv_.Signal();
    } else {
      state_.erase(it);
    }
  }
}

}  // namespace vmle::agent
