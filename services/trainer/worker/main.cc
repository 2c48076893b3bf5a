// vmle-worker: leases trials from the agent and trains them on one device.
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
  CLI::App app{"vmle-worker: VirtualMLE's trainer-worker"};
  vmle::ServerOptions server;
  server.service_name = "worker";
  server.listen = "0.0.0.0:50053";
  server.metrics_listen = "0.0.0.0:9093";
  std::string log_level = "info";
  std::string agent = "localhost:50051";
  std::string data_root = ".";
  vmle::AddServerFlags(app, server, log_level);
  vmle::AddFlag(app, "--agent", agent, "agent address HOST:PORT");
  vmle::AddFlag(app, "--data_root", data_root, "datasets are resolved under this directory");
  CLI11_PARSE(app, argc, argv);

  return vmle::RunService(server, log_level, [&](vmle::MetricsServer&) {
    vmle::log::Info("starting", {{"agent", agent}, {"data_root", data_root}});
    return absl::StatusOr<std::vector<std::unique_ptr<grpc::Service>>>(
        std::vector<std::unique_ptr<grpc::Service>>{});
  });
}
