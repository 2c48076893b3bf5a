#include "services/agent/study/watch_hub.h"

#include <algorithm>
#include <utility>

namespace vmle::agent {

using vmle::v1::StudyEvent;

void WatchHub::Publish(const std::string& study_id, std::vector<StudyEvent> events, bool ended,
                       int64_t version) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<Log>& log = logs_[study_id];
  if (log == nullptr) log = std::make_unique<Log>();
  for (StudyEvent& e : events) {
    if (!log->events.empty() && e.sequence() <= log->events.back().sequence()) continue;
    log->events.push_back(std::move(e));
  }
  if (version >= log->version) {
    log->ended = ended;
    log->version = version;
  }
  log->changed.SignalAll();
}

absl::Status WatchHub::Watch(const std::string& study_id, int64_t after_sequence,
                             const std::function<bool(const StudyEvent&)>& write,
                             const std::function<bool()>& cancelled) {
  int64_t last = after_sequence;
  absl::MutexLock lock(&mu_);
  const auto found = logs_.find(study_id);
  if (found == logs_.end()) return absl::NotFoundError("no events of study " + study_id);
  Log& log = *found->second;
  for (;;) {
    const auto first = std::upper_bound(log.events.begin(), log.events.end(), last,
                                        [](int64_t s, const StudyEvent& e) { return s < e.sequence(); });
    if (first != log.events.end()) {
      std::vector<StudyEvent> batch(first, log.events.end());
      mu_.Unlock();
      bool keep_going = true;
      for (const StudyEvent& e : batch) {
        if (!(keep_going = write(e))) break;
        last = e.sequence();
      }
      mu_.Lock();
      if (!keep_going) return absl::OkStatus();
      continue;
    }
    if (log.ended) return absl::OkStatus();
    if (stopping_) {
      return absl::UnavailableError("the agent is shutting down; watch again from sequence " + std::to_string(last));
    }
    if (cancelled()) return absl::CancelledError("the watcher went away");
    log.changed.WaitWithTimeout(&mu_, cancel_poll_);
  }
}

void WatchHub::Stop() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  for (auto& [id, log] : logs_) log->changed.SignalAll();
}

int64_t WatchHub::LastSequence(const std::string& study_id) const {
  absl::MutexLock lock(&mu_);
  const auto found = logs_.find(study_id);
  if (found == logs_.end() || found->second->events.empty()) return 0;
  return found->second->events.back().sequence();
}

}  // namespace vmle::agent
