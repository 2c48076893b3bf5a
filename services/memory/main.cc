// vmle-memory: the system of record (RocksDB) and the agent's long-term memory.
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/config/server_flags.h"
#include "common/logging/logging.h"
#include "common/server/run.h"
#include "common/server/signals.h"

int main(int argc, char** argv) {
  vmle::BlockTerminationSignals();
  CLI::App app{"vmle-memory: VirtualMLE's system of record (RocksDB)"};
  vmle::ServerOptions server;
  server.service_name = "memory";
  server.listen = "0.0.0.0:50052";
  server.metrics_listen = "0.0.0.0:9092";
  std::string log_level = "info";
  std::string db = "vmle-memory-db";
  vmle::AddServerFlags(app, server, log_level);
  vmle::AddFlag(app, "--db", db, "RocksDB directory (created if missing)");
  CLI11_PARSE(app, argc, argv);

  return vmle::RunService(server, log_level, [&](vmle::MetricsServer&) {
    vmle::log::Info("starting", {{"db", db}});
    return absl::StatusOr<std::vector<std::unique_ptr<grpc::Service>>>(
        std::vector<std::unique_ptr<grpc::Service>>{});
  });
}
