// The agent core's parts assembled for their unit tests, without the StudyManager
// facade: a real memory service in process, a WatchHub, a StudyLedger on it, a
// StudyEnding, and studies and trials written straight through the ledger.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "prometheus/registry.h"
#include "services/agent/planner/planner_factory.h"
#include "services/agent/study/agent_metrics.h"
#include "services/agent/study/internal/time_util.h"
#include "services/agent/study/study_ending.h"
#include "services/agent/study/study_ledger.h"
#include "services/agent/study/study_spec.h"
#include "tests/agent/agent_test_util.h"

namespace vmle::agent::testing {

// A running study of SimSpec(planner, trials, parallelism), normalised as Submit does.
inline vmle::v1::Study NewStudy(const std::string& id, const std::string& planner = "random", int trials = 4,
                                int parallelism = 2) {
  absl::StatusOr<vmle::v1::StudySpec> spec = NormalizeStudySpec(SimSpec(planner, trials, parallelism), SpecLimits{});
  EXPECT_TRUE(spec.ok()) << spec.status();
  vmle::v1::Study study;
  study.set_id(id);
  if (spec.ok()) *study.mutable_spec() = *spec;
  study.set_state(vmle::v1::STUDY_STATE_RUNNING);
  *study.mutable_created_at() = internal::ToTimestamp(absl::Now());
  return study;
}

// Trial `number` of the study in `status` (a running one leased to w-1 as ls-<number>).
inline vmle::v1::Trial NewTrial(const std::string& study_id, int number, vmle::v1::TrialStatus status) {
  vmle::v1::Trial t;
  t.set_id(absl::StrCat(study_id, "-t", number));
  t.set_study_id(study_id);
  t.set_number(number);
  t.set_status(status);
  t.set_seed(number);
  if (status == vmle::v1::TRIAL_STATUS_RUNNING) {
    t.set_attempts(1);
    t.set_worker_id("w-1");
    t.set_lease_id(absl::StrCat("ls-", number));
  }
  return t;
}

class CoreParts {
 public:
  CoreParts() : client_(NewClient()) {}

  std::unique_ptr<MemoryClient> NewClient() {
    return std::make_unique<MemoryClient>(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", cluster_.memory_port()), grpc::InsecureChannelCredentials()),
        MemoryClient::Options{.call_timeout = absl::Milliseconds(500), .max_attempts = 2});
  }

  // A ledger on the memory service, with `hub`; `reload`: its unfinished studies
  // reloaded (it serves). Planners come from the factory unless `make_planner` is set.
  std::unique_ptr<StudyLedger> NewLedger(WatchHub& hub, bool reload = true, bool workers_survive_restart = true,
                                         PlannerMaker make_planner = {}) {
    StudyLedger::Options options;
    options.memory = client_.get();
    options.watch_hub = &hub;
    options.make_planner = make_planner ? std::move(make_planner)
                                        : [](const vmle::v1::PlannerSpec& spec, const std::string& id) {
                                            PlannerEnvironment environment;
                                            environment.study_id = id;
                                            return MakePlanner(spec, environment);
                                          };
    options.lease_duration = absl::Seconds(30);
    options.workers_survive_restart = workers_survive_restart;
    options.slot_released = [this](const internal::StudyEntry& entry) {
      ++released_;
      if (on_slot_released) on_slot_released(entry);
    };
    auto ledger = std::make_unique<StudyLedger>(std::move(options));
    if (reload) {
      EXPECT_TRUE(ledger->ReloadUnfinished().ok());
    }
    return ledger;
  }

  // Creates `study` in `ledger`, stored with its submission event.
  static internal::StudyEntry* Create(StudyLedger& ledger, const vmle::v1::Study& study) {
    absl::MutexLock lock(&ledger.mu());
    absl::StatusOr<std::unique_ptr<internal::StudyEntry>> entry = ledger.NewEntry(study);
    EXPECT_TRUE(entry.ok()) << entry.status();
    if (!entry.ok()) return nullptr;
    vmle::v1::StudyEvent submitted =
        StudyLedger::MakeEvent(**entry, vmle::v1::StudyEvent::TYPE_STUDY_SUBMITTED, "", "submitted");
    absl::StatusOr<internal::StudyEntry*> created = ledger.CreateLocked(*std::move(entry), {submitted});
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? *created : nullptr;
  }

  // Commits `trials` to the study with one event each, under its write slot; the
  // queued ones join its queue.
  static absl::Status Commit(StudyLedger& ledger, internal::StudyEntry& entry,
                             const std::vector<vmle::v1::Trial>& trials) {
    absl::MutexLock lock(&ledger.mu());
    StudyLedger::WriteSlot slot(ledger, entry);
    if (absl::Status s = slot.Acquire(StudyLedger::kSlotWait); !s.ok()) return s;
    std::vector<vmle::v1::StudyEvent> events;
    for (const vmle::v1::Trial& t : trials) {
      events.push_back(StudyLedger::MakeEvent(entry, vmle::v1::StudyEvent::TYPE_TRIAL_QUEUED, t.id(), "queued"));
    }
    if (absl::Status s = ledger.CommitLocked(entry, entry.study, trials, std::move(events)); !s.ok()) return s;
    for (const vmle::v1::Trial& t : trials) {
      if (t.status() == vmle::v1::TRIAL_STATUS_QUEUED) entry.queue.push_back(t.number());
    }
    return absl::OkStatus();
  }

  InProcessCluster& cluster() { return cluster_; }
  MemoryClient& client() { return *client_; }
  AgentMetrics& metrics() { return metrics_; }
  int released() const { return released_; }

  // Called, with the ledger's lock held, when a write slot is released.
  std::function<void(const internal::StudyEntry&)> on_slot_released;

 private:
  InProcessCluster cluster_;
  std::unique_ptr<MemoryClient> client_;
  prometheus::Registry registry_;
  AgentMetrics metrics_{registry_};
  std::atomic<int> released_{0};
};

// A test holding a ledger on the memory service (its unfinished studies reloaded) and
// its StudyEnding; new_work_ counts the times a part asked for planning, and
// new_work_study_ names the study of the last (both with the ledger's lock held).
class LedgerTest : public ::testing::Test {
 protected:
  LedgerTest() : ledger_(parts_.NewLedger(hub_)), ending_(*ledger_, parts_.metrics(), NewWork()) {}

  std::function<void(const internal::StudyEntry&)> NewWork() {
    return [this](const internal::StudyEntry& entry) {
      ++new_work_;
      new_work_study_ = entry.study.id();
    };
  }

  CoreParts parts_;
  WatchHub hub_;
  std::unique_ptr<StudyLedger> ledger_;
  StudyEnding ending_;
  std::atomic<int> new_work_{0};
  std::string new_work_study_;
};

}  // namespace vmle::agent::testing
