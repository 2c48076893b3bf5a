// EmbeddedCluster: the memory service and the agent in one process — `vmle tune`'s
// cluster and the scheduler benchmark's. The memory store is a RocksDB directory under
// Options::state_dir that a later run reuses (so cognition summaries carry over); the
// services are reached over in-process gRPC channels (no port), and optionally also on
// a TCP address for outside clients (grpcurl, vmle, workers in other processes).
// Both servers are built by the services' bootstrap (common/server/server.h), so the
// TCP address has the same reflection, health, metrics and authorisation.
//
// Workers are not part of it: callers attach vmle-worker cores or simulated workers to
// agent_channel(). Thread-safe after Start; Stop (or the destructor) shuts everything
// down in order.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "grpcpp/security/server_credentials.h"
#include "common/server/server.h"
#include "grpcpp/server.h"
#include "services/agent/service/agent.h"
#include "services/agent/study/study_manager.h"

namespace prometheus {
class Registry;
}
namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace vmle::memory {
class MemoryStore;
class MemoryServiceImpl;
}  // namespace vmle::memory
namespace vmle::embedded {

class EmbeddedCluster {
 public:
  struct Options {
    // Directory of the RocksDB memory store (created when missing).
    std::string state_dir = ".vmle/state";
    // fsync every acknowledged write.
    bool sync_writes = true;
    // The memory store's RocksDB environment (files, threads, clock); null: the
    // default. Benchmarks and tests wrap it to slow down or fail the disk.
    rocksdb::Env* memory_env = nullptr;
    // The agent's options; `memory` and `registry` are filled in.
    agent::StudyManager::Options agent;
    // Also serve StudyService and TrialQueue on this address ("" = in-process only).
    std::string listen;
    // The credentials of `listen` (common/server MakeServerCredentials: TLS, tokens);
    // null: plaintext and no authentication.
    std::shared_ptr<grpc::ServerCredentials> listen_credentials;
    // Where metrics go; null: a private registry.
    prometheus::Registry* registry = nullptr;
    // The port `registry` is served on, if any (for logs only).
    int metrics_port = 0;
  };

  static absl::StatusOr<std::unique_ptr<EmbeddedCluster>> Start(Options options);
  ~EmbeddedCluster();

  // A channel to the agent's StudyService and TrialQueue.
  std::shared_ptr<grpc::Channel> agent_channel() const { return agent_channel_; }
  // The TCP port when Options::listen was set, else 0.
  int agent_port() const { return agent_port_; }
  agent::StudyManager& manager() { return agent_->manager(); }

  void Stop();

 private:
  EmbeddedCluster() = default;

  std::shared_ptr<prometheus::Registry> own_registry_;
  std::unique_ptr<memory::MemoryServiceImpl> memory_service_;
  std::unique_ptr<ServiceHost> memory_host_;
  std::unique_ptr<agent::MemoryClient> memory_client_;
  std::unique_ptr<agent::Agent> agent_;
  // StudyService and TrialQueue of agent_, served by agent_host_.
  std::vector<std::unique_ptr<grpc::Service>> agent_services_;
  std::unique_ptr<ServiceHost> agent_host_;
  std::shared_ptr<grpc::Channel> agent_channel_;
  int agent_port_ = 0;
};

}  // namespace vmle::embedded
