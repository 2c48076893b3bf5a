#include "services/embedded/embedded_cluster.h"

#include <chrono>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/server/server.h"
#include "grpcpp/security/server_credentials.h"
#include "prometheus/registry.h"
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
  store_options.env = options.memory_env;
  store_options.metrics = registry;
  absl::StatusOr<std::unique_ptr<memory::MemoryStore>> store = memory::MemoryStore::Open(store_options);
  if (!store.ok()) return store.status();
  c->memory_service_ = std::make_unique<memory::MemoryServiceImpl>(std::move(*store));
  // Both servers come from the services' own bootstrap (common/server): reflection,
  // health, the metrics interceptor and, on the agent's port, authorisation.
  ServerOptions memory_server;
  memory_server.service_name = "memory";
  memory_server.listen = "";  // in-process only
  memory_server.shutdown_grace = std::chrono::seconds(1);
  absl::StatusOr<std::unique_ptr<ServiceHost>> memory_host = ServiceHost::StartWithCredentials(
      memory_server, grpc::InsecureServerCredentials(), {c->memory_service_.get()}, registry, 0);
  if (!memory_host.ok()) return memory_host.status();
  c->memory_host_ = *std::move(memory_host);
  c->memory_client_ =
      std::make_unique<agent::MemoryClient>(c->memory_host_->InProcessChannel(), agent::MemoryClient::Options{});

  options.agent.memory = c->memory_client_.get();
  options.agent.registry = registry;
  absl::StatusOr<std::unique_ptr<agent::Agent>> started = agent::Agent::Start(options.agent, {});
  if (!started.ok()) return started.status();
  c->agent_ = std::move(*started);
  c->agent_services_ = c->agent_->TakeServices();
  std::vector<grpc::Service*> agent_services;
  for (const auto& s : c->agent_services_) agent_services.push_back(s.get());
  ServerOptions agent_server;
  agent_server.service_name = "agent";
  agent_server.listen = options.listen;
  agent_server.shutdown_grace = std::chrono::seconds(1);
  absl::StatusOr<std::unique_ptr<ServiceHost>> agent_host = ServiceHost::StartWithCredentials(
      agent_server,
      options.listen_credentials != nullptr ? options.listen_credentials : grpc::InsecureServerCredentials(),
      agent_services, registry, options.metrics_port);
  if (!agent_host.ok()) return agent_host.status();
  c->agent_host_ = *std::move(agent_host);
  c->agent_port_ = c->agent_host_->port();
  c->agent_channel_ = c->agent_host_->InProcessChannel();
  // Wait until the agent has loaded the unfinished studies of earlier runs.
  for (int i = 0; i < 3000 && absl::IsUnavailable(c->manager().ListStudies({}).status()); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  return c;
}

EmbeddedCluster::~EmbeddedCluster() { Stop(); }

void EmbeddedCluster::Stop() {
  if (agent_ != nullptr) agent_->Stop();
  if (agent_host_ != nullptr) agent_host_->Shutdown();
  if (memory_host_ != nullptr) memory_host_->Shutdown();
  agent_host_.reset();
  agent_services_.clear();
  agent_.reset();
  memory_client_.reset();
  memory_host_.reset();
  memory_service_.reset();
}

}  // namespace vmle::embedded
