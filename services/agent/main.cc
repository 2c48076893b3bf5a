// vmle-agent: plans, schedules and reflects on tuning studies.
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
  CLI::App app{"vmle-agent: VirtualMLE's tuning agent (StudyService, TrialQueue)"};
  vmle::ServerOptions server;
  server.service_name = "agent";
  server.listen = "0.0.0.0:50051";
  server.metrics_listen = "0.0.0.0:9091";
  std::string log_level = "info";
  std::string memory = "localhost:50052";
  vmle::AddServerFlags(app, server, log_level);
  vmle::AddFlag(app, "--memory", memory, "memory service address HOST:PORT");
  CLI11_PARSE(app, argc, argv);

  return vmle::RunService(server, log_level, [&](vmle::MetricsServer&) {
    vmle::log::Info("starting", {{"memory", memory}});
    return absl::StatusOr<std::vector<std::unique_ptr<grpc::Service>>>(
        std::vector<std::unique_ptr<grpc::Service>>{});
  });
}
