// The agent, wired: a StudyManager on a memory client, and the StudyService and
// TrialQueue adapters over it. vmle-agent and the embedded cluster of `vmle tune`
// build it the same way here, then serve `services()` on a ServiceHost.
//
// Threads: those of StudyManager; Stop() (or destruction) stops the manager, after
// which the services answer UNAVAILABLE. Not copyable.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/impl/service_type.h"
#include "services/agent/service/study_service.h"
#include "services/agent/service/trial_queue_service.h"
#include "services/agent/study/study_manager.h"

namespace vmle::agent {

class Agent {
 public:
  struct Limits {
    int max_watches_per_caller = StudyServiceImpl::kDefaultMaxWatchesPerCaller;
    int max_long_polls_per_caller = TrialQueueImpl::kDefaultMaxLongPollsPerCaller;
  };

  // Starts the manager with `options` (options.memory must be set and outlive the
  // agent); the errors of StudyManager::Start.
  static absl::StatusOr<std::unique_ptr<Agent>> Start(StudyManager::Options options, Limits limits);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  void Stop();
  StudyManager& manager() { return *manager_; }
  // The gRPC services to register, StudyService and TrialQueue, handed over once: the
  // caller owns them and must destroy them (after its server has stopped) before the
  // agent.
  std::vector<std::unique_ptr<grpc::Service>> TakeServices();

 private:
  Agent() = default;

  std::unique_ptr<StudyManager> manager_;
  Limits limits_;
};

}  // namespace vmle::agent
