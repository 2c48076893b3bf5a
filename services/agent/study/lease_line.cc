#include "services/agent/study/lease_line.h"

namespace vmle::agent {

bool DeviceMatches(const std::string& wanted, const std::string& device) {
  if (wanted.empty()) return true;
  if (wanted == "cuda") return device.rfind("cuda", 0) == 0;
  return wanted == device;
}

void LeaseLine::Join(Waiter& waiter) { waiter.position_ = line_.insert(line_.end(), &waiter); }

void LeaseLine::Leave(Waiter& waiter) { line_.erase(waiter.position_); }

std::vector<LeaseLine::Waiter*> LeaseLine::TakeServable(const std::string& wanted_device, size_t max) {
  std::vector<Waiter*> taken;
  for (auto it = line_.begin(); it != line_.end() && taken.size() < max;) {
    Waiter* w = *it;
    // A caller that has gone gets no trial (it would sit leased until the lease ends).
    if (!DeviceMatches(wanted_device, w->worker->device()) || (*w->cancelled)()) {
      ++it;
      continue;
    }
    w->taken = true;
    it = line_.erase(it);
    taken.push_back(w);
  }
  return taken;
}

void LeaseLine::WakeMatching(const std::string& wanted_device, int count) {
  int woken = 0;
  for (Waiter* w : line_) {
    if (woken >= count) return;
    if (DeviceMatches(wanted_device, w->worker->device())) {
      w->cv.Signal();
      ++woken;
    }
  }
}

void LeaseLine::WakeAll() {
  for (Waiter* w : line_) w->cv.Signal();
}

}  // namespace vmle::agent
