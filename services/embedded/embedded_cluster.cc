#include "services/embedded/embedded_cluster.h"

#include <chrono>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "prometheus/registry.h"
#include "services/agent/service/study_service.h"
#include "services/agent/service/trial_queue_service.h"
#include "services/memory/memory_service.h"
#include "services/memory/store/memory_store.h"

namespace vmle::embedded {

absl::StatusOr<std::unique_ptr<EmbeddedCluster>> EmbeddedCluster::Start(Options options) {
  std::unique_ptr<EmbeddedCluster> c(new EmbeddedCluster());
  prometheus::Registry* registry = options.registry;
  if (registry == nullptr) {
    c->own_registry_ = std::make_shared<prometheus::Registry>();
    registry = c->own_registry_.get();
  }
  std::error_code ec;
  std::filesystem::create_directories(options.state_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create the state directory ", options.state_dir, ": ", ec.message()));
  }
  memory::MemoryStoreOptions store_options;
  store_options.path = options.state_dir + "/memory";
  store_options.sync_writes = options.sync_writes;
  store_options.metrics = registry;
  absl::StatusOr<std::unique_ptr<memory::MemoryStore>> store = memory::MemoryStore::Open(store_options);
  if (!store.ok()) return store.status();
  c->memory_service_ = std::make_unique<memory::MemoryServiceImpl>(std::move(*store));
  grpc::ServerBuilder memory_builder;
  memory_builder.RegisterService(c->memory_service_.get());
  c->memory_server_ = memory_builder.BuildAndStart();
  if (c->memory_server_ == nullptr) return absl::InternalError("cannot start the embedded memory service");
  agent::MemoryClient::Options client_options;
  client_options.max_attempts = 5;
  c->memory_client_ =
      std::make_unique<agent::MemoryClient>(c->memory_server_->InProcessChannel(grpc::ChannelArguments()), client_options);

  options.agent.memory = c->memory_client_.get();
  options.agent.registry = registry;
  absl::StatusOr<std::unique_ptr<agent::StudyManager>> manager = agent::StudyManager::Start(options.agent);
  if (!manager.ok()) return manager.status();
  c->manager_ = std::move(*manager);
  c->study_service_ = std::make_unique<agent::StudyServiceImpl>(c->manager_.get());
  c->queue_service_ = std::make_unique<agent::TrialQueueImpl>(c->manager_.get());
  grpc::ServerBuilder agent_builder;
  agent_builder.RegisterService(c->study_service_.get());
  agent_builder.RegisterService(c->queue_service_.get());
  if (!options.listen.empty()) {
    agent_builder.AddListeningPort(
        options.listen,
        options.listen_credentials != nullptr ? options.listen_credentials : grpc::InsecureServerCredentials(),
        &c->agent_port_);
  }
  c->agent_server_ = agent_builder.BuildAndStart();
  if (c->agent_server_ == nullptr || (!options.listen.empty() && c->agent_port_ == 0)) {
    return absl::UnavailableError(absl::StrCat("cannot serve the agent on ", options.listen));
  }
  c->agent_channel_ = c->agent_server_->InProcessChannel(grpc::ChannelArguments());
  // Wait until the agent has loaded the unfinished studies of earlier runs.
  for (int i = 0; i < 3000 && absl::IsUnavailable(c->manager_->ListStudies({}).status()); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  return c;
}

EmbeddedCluster::~EmbeddedCluster() { Stop(); }

void EmbeddedCluster::Stop() {
  if (manager_ != nullptr) manager_->Stop();
  const auto soon = std::chrono::system_clock::now() + std::chrono::seconds(1);
  if (agent_server_ != nullptr) agent_server_->Shutdown(soon);
  if (memory_server_ != nullptr) memory_server_->Shutdown(soon);
  agent_server_.reset();
  manager_.reset();
  memory_client_.reset();
  memory_server_.reset();
  memory_service_.reset();
}

}  // namespace vmle::embedded
