#include "services/agent/service/agent.h"

#include <utility>

namespace vmle::agent {

absl::StatusOr<std::unique_ptr<Agent>> Agent::Start(StudyManager::Options options, Limits limits) {
  absl::StatusOr<std::unique_ptr<StudyManager>> manager = StudyManager::Start(std::move(options));
  if (!manager.ok()) return manager.status();
  std::unique_ptr<Agent> agent(new Agent());
  agent->manager_ = *std::move(manager);
  agent->limits_ = limits;
  return agent;
}

std::vector<std::unique_ptr<grpc::Service>> Agent::TakeServices() {
  std::vector<std::unique_ptr<grpc::Service>> services;
  services.push_back(std::make_unique<StudyServiceImpl>(manager_.get(), limits_.max_watches_per_caller));
  services.push_back(std::make_unique<TrialQueueImpl>(manager_.get(), limits_.max_long_polls_per_caller));
  return services;
}

Agent::~Agent() { Stop(); }

void Agent::Stop() {
  if (manager_ != nullptr) manager_->Stop();
}

}  // namespace vmle::agent
