// vmle-sim-worker: N simulated-objective workers in one process, pulling trials from
// an agent's TrialQueue until SIGTERM/SIGINT. For tests, demos and bench/scheduler:
// the agent's whole control path at scale, without training.
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/auth/client_channel.h"
#include "common/logging/logging.h"
#include "common/server/signals.h"
#include "services/sim/sim_worker.h"

int main(int argc, char** argv) {
  vmle::BlockTerminationSignals();
  CLI::App app{"vmle-sim-worker: simulated-objective workers for the agent's TrialQueue"};
  std::string agent = "localhost:50051";
  std::string id_prefix = "sim";
  int workers = 1;
  int epoch_ms = 20;
  app.add_option("--agent", agent, "agent address HOST:PORT")->envname("VMLE_AGENT")->capture_default_str();
  app.add_option("--workers", workers, "workers in this process")->check(CLI::Range(1, 1024))->capture_default_str();
  app.add_option("--epoch_ms", epoch_ms, "simulated milliseconds per epoch")
      ->check(CLI::Range(0, 600000))
      ->capture_default_str();
  app.add_option("--worker_id_prefix", id_prefix, "worker ids are PREFIX-N")->capture_default_str();
  vmle::auth::ClientSecurityOptions security_options;
  app.add_option("--agent_auth_token_file", security_options.token_file, "file holding the worker token")
      ->envname("VMLE_AGENT_AUTH_TOKEN_FILE");
  app.add_option("--agent_tls_ca", security_options.tls_ca_file, "PEM CA of the agent's certificate (TLS on)")
      ->envname("VMLE_AGENT_TLS_CA");
  app.add_option("--agent_tls_cert", security_options.tls_cert_file, "PEM client certificate")
      ->envname("VMLE_AGENT_TLS_CERT");
  app.add_option("--agent_tls_key", security_options.tls_key_file, "PEM key of the client certificate")
      ->envname("VMLE_AGENT_TLS_KEY");
  CLI11_PARSE(app, argc, argv);

  absl::StatusOr<vmle::auth::ClientSecurity> security = vmle::auth::LoadClientSecurity(security_options);
  if (!security.ok()) {
    vmle::log::Error("startup failed", {{"error", security.status().ToString()}});
    return 1;
  }
  auto channel = vmle::auth::MakeClientChannel(agent, *security);
  std::vector<std::unique_ptr<vmle::agent::sim::SimWorker>> pool;
  for (int i = 0; i < workers; ++i) {
    vmle::agent::sim::SimWorkerOptions options;
    options.worker_id = id_prefix + "-" + std::to_string(i);
    options.epoch_time = absl::Milliseconds(epoch_ms);
    pool.push_back(std::make_unique<vmle::agent::sim::SimWorker>(channel, options));
    pool.back()->Start();
  }
  vmle::log::Info("simulated workers started", {{"agent", agent}, {"workers", std::to_string(workers)}});
  vmle::WaitForTerminationSignal();
  for (auto& w : pool) w->RequestStop(/*hand_back=*/true);
  for (auto& w : pool) w->Stop(/*hand_back=*/true);
  vmle::agent::sim::SimWorkerStats total;
  for (auto& w : pool) {
    const vmle::agent::sim::SimWorkerStats s = w->stats();
    total.trials_completed += s.trials_completed;
    total.trials_failed += s.trials_failed;
    total.trials_abandoned += s.trials_abandoned;
    total.trials_released += s.trials_released;
  }
  vmle::log::Info("simulated workers stopped", {{"trials_completed", std::to_string(total.trials_completed)},
                                                {"trials_failed", std::to_string(total.trials_failed)},
                                                {"trials_abandoned", std::to_string(total.trials_abandoned)},
                                                {"trials_released", std::to_string(total.trials_released)}});
  return 0;
}
