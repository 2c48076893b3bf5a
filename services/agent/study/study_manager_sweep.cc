// The StudyManager's sweeper: expired leases, stop conditions that hold without a
// result arriving (wall time), endings whose writes failed, and gauges.
#include <map>

#include "absl/strings/ascii.h"
#include "common/logging/logging.h"
#include "services/agent/study/internal/study_entry.h"
#include "services/agent/study/internal/study_state.h"
#include "services/agent/study/study_manager.h"

namespace vmle::agent {

using internal::StateName;
using vmle::v1::StudyState;

void StudyManager::SweepLoop() {
  absl::Time last_gauges = absl::InfinitePast();
  absl::MutexLock lock(&ledger_.mu());
  while (!ledger_.StoppingLocked()) {
    sweep_cv_.WaitWithTimeout(&ledger_.mu(), options_.sweep_interval);
    if (ledger_.StoppingLocked()) break;
    queue_.ExpireLeasesLocked();
    for (auto& [id, entry] : ledger_.StudiesLocked()) {
      // An ending whose queued trials could not all be stopped yet (a failed write).
      if (entry->Active() && entry->ending && !entry->queue.empty() && !entry->writing) {
        StudyLedger::WriteSlot slot(ledger_, *entry);
        if (slot.Acquire(absl::ZeroDuration()).ok()) {
          if (absl::Status s = ending_.BeginLocked(*entry, entry->end_reason, entry->final_state); !s.ok()) {
            log::Warn("cannot end study yet", {{"study", id}, {"error", std::string(s.message())}});
          }
        }
        continue;
      }
      StudyState final_state;
      if (entry->Active() && !entry->ending && !entry->writing &&
          !ending_.StopReasonLocked(*entry, &final_state).empty()) {
        StudyLedger::WriteSlot slot(ledger_, *entry);
        if (!slot.Acquire(absl::ZeroDuration()).ok()) continue;
        if (absl::Status s = ending_.CheckLocked(*entry); !s.ok()) {
          log::Warn("cannot end study yet", {{"study", id}, {"error", std::string(s.message())}});
        }
      }
    }
    if (absl::Now() - last_gauges >= absl::Seconds(1)) {
      UpdateGaugesLocked();
      last_gauges = absl::Now();
    }
  }
}

void StudyManager::UpdateGaugesLocked() {
  std::map<std::string, int> studies, trials;
  int queued = 0;
  for (const auto& [id, entry] : ledger_.StudiesLocked()) {
    ++studies[StateName(entry->study.state())];
    queued += static_cast<int>(entry->queue.size());
    for (const auto& [number, t] : entry->trials) {
      std::string status = vmle::v1::TrialStatus_Name(t.trial.status());
      status = absl::AsciiStrToLower(status.substr(status.rfind('_') + 1));
      ++trials[status];
    }
    if (entry->Active() && entry->study.has_best()) metrics_->SetBest(id, entry->study.best_value());
    if (entry->Active() && entry->study.noise().degrees_of_freedom() > 0) {
      metrics_->SetNoise(id, entry->study.noise().relative_sd());
    }
  }
  const std::map<std::string, int> workers =
      queue_.WorkersLocked(absl::Now(), 2 * options_.lease_duration + options_.max_lease_wait);
  metrics_->SetStudies(studies);
  metrics_->SetTrials(trials);
  metrics_->SetWorkers(workers);
  metrics_->SetQueueLength(queued);
}

}  // namespace vmle::agent
