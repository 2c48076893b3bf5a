#include "services/agent/study/lease_line.h"

#include <algorithm>
#include <utility>

namespace vmle::agent {

bool DeviceMatches(const std::string& wanted, const std::string& device) {
  if (wanted.empty()) return true;
  if (wanted == "cuda") return device.rfind("cuda", 0) == 0;
  return wanted == device;
}

uint64_t LeaseLine::Join(std::unique_ptr<Waiter> waiter) {
  const uint64_t ticket = waiter->ticket;
  by_ticket_[ticket] = line_.insert(line_.end(), {ticket, std::move(waiter)});
  return ticket;
}

std::unique_ptr<LeaseLine::Waiter> LeaseLine::Withdraw(uint64_t ticket) {
  auto it = by_ticket_.find(ticket);
  if (it == by_ticket_.end()) return nullptr;
  std::unique_ptr<Waiter> waiter = std::move(it->second->second);
  line_.erase(it->second);
  by_ticket_.erase(it);
  return waiter;
}

LeaseLine::Taken LeaseLine::TakeWhere(const std::function<bool(const Waiter&)>& take, size_t max) {
  Taken taken;
  for (auto it = line_.begin(); it != line_.end() && taken.size() < max;) {
    if (!take(*it->second)) {
      ++it;
      continue;
    }
    by_ticket_.erase(it->first);
    taken.push_back(std::move(it->second));
    it = line_.erase(it);
  }
  return taken;
}

LeaseLine::Taken LeaseLine::TakeServable(const std::string& wanted_device, size_t max) {
  // A caller that has gone gets no trial (it would sit leased until the lease ends).
  return TakeWhere([&](const Waiter& w) { return DeviceMatches(wanted_device, w.worker.device()) && !w.gone(); },
                   max);
}

LeaseLine::Taken LeaseLine::TakeExpired(absl::Time now) {
  return TakeWhere([now](const Waiter& w) { return w.deadline <= now || w.gone(); }, line_.size());
}

LeaseLine::Taken LeaseLine::TakeAll() {
  Taken taken;
  for (auto& [ticket, waiter] : line_) taken.push_back(std::move(waiter));
  line_.clear();
  by_ticket_.clear();
  return taken;
}

std::vector<std::string> LeaseLine::Devices() const {
  std::vector<std::string> devices;
  for (const auto& [ticket, waiter] : line_) {
    const std::string& device = waiter->worker.device();
    if (std::find(devices.begin(), devices.end(), device) == devices.end()) devices.push_back(device);
  }
  return devices;
}

bool LeaseLine::AnyMatching(const std::string& wanted_device) const {
  return std::any_of(line_.begin(), line_.end(),
                     [&](const auto& entry) { return DeviceMatches(wanted_device, entry.second->worker.device()); });
}

absl::Time LeaseLine::NextDeadline() const {
  absl::Time next = absl::InfiniteFuture();
  for (const auto& [ticket, waiter] : line_) next = std::min(next, waiter->deadline);
  return next;
}

}  // namespace vmle::agent
