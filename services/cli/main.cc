// vmle: the VirtualMLE command-line client.
#include <iostream>

#include "CLI/CLI.hpp"
#include "services/cli/health_command.h"

int main(int argc, char** argv) {
  CLI::App app{"vmle: VirtualMLE command-line client"};
  app.require_subcommand(1);

  vmle::cli::HealthOptions health;
  CLI::App* health_cmd = app.add_subcommand("health", "check the health of VirtualMLE services");
  health_cmd->add_option("targets", health.targets, "service addresses HOST:PORT")->required();
  health_cmd->add_option("--timeout", health.timeout_seconds, "seconds per service")
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);

  if (health_cmd->parsed()) {
    const absl::Status status = vmle::cli::RunHealth(health, std::cout);
    if (!status.ok()) {
      std::cerr << "vmle health: " << status.message() << "\n";
      return 1;
    }
  }
  return 0;
}
