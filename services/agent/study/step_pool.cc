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
  if (stepping_.count(key) > 0) {
    again_.insert(key);
  } else if (queued_.insert(key).second) {
    queue_.push_back(key);
    work_cv_.Signal();
  }
}

void StepPool::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    queue_.clear();
    queued_.clear();
    again_.clear();
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
    queued_.erase(key);
    stepping_.insert(key);
    mu_.Unlock();
    step_(key);
    mu_.Lock();
    stepping_.erase(key);
    if (again_.erase(key) > 0 && !stopping_ && queued_.insert(key).second) {
      queue_.push_back(key);
      work_cv_.Signal();
    }
  }
}

}  // namespace vmle::agent
