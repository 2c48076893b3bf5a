// vmle-worker: leases trials from the agent and trains them on one device.
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/config/server_flags.h"
#include "common/logging/logging.h"
#include "common/metrics/metrics.h"
#include "common/server/server.h"
#include "common/server/signals.h"
#include "services/trainer/worker/dataset_cache.h"
#include "services/trainer/worker/trial_runner.h"
#include "services/trainer/worker/worker.h"
#include "services/trainer/util/allocator.h"

#ifndef VMLE_VERSION
#define VMLE_VERSION "dev"
#endif

namespace {

std::string Hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "worker";
  return name;
}

int Fail(const absl::Status& status) {
  vmle::log::Error("startup failed", {{"error", status.ToString()}});
  return 1;
}

// Serves health, reflection and /metrics while the worker pulls trials; stops both
// on SIGTERM or SIGINT.
int Run(const vmle::ServerOptions& server, const std::string& agent,
        vmle::worker::DatasetCacheOptions cache_options,
        vmle::worker::TrialRunnerOptions runner_options,
        vmle::worker::WorkerOptions worker_options) {
  auto metrics = vmle::MetricsServer::Start(server.metrics_listen, server.service_name, VMLE_VERSION);
  if (!metrics.ok()) return Fail(metrics.status());
  cache_options.metrics = &(*metrics)->registry();
  worker_options.metrics = &(*metrics)->registry();
  auto datasets = vmle::worker::DatasetCache::Create(cache_options);
  if (!datasets.ok()) return Fail(datasets.status());
  runner_options.datasets = datasets->get();
  const vmle::worker::TrialRunner runner(runner_options);
  if (absl::Status device = runner.CheckDevice(); !device.ok()) return Fail(device);
  auto host = vmle::ServiceHost::Start(server, {}, metrics->get());
  if (!host.ok()) return Fail(host.status());

  vmle::log::Info("starting", {{"agent", agent},
                               {"worker", worker_options.worker_id},
                               {"data_root", (*datasets)->data_root()},
                               {"device", runner_options.device}});
  vmle::worker::Worker worker(worker_options, vmle::worker::MakeAgentChannel(agent, worker_options),
                              &runner);
  worker.Start();
  const int signal = vmle::WaitForTerminationSignal();
  vmle::log::Info("signal received", {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
  worker.Stop();
  (*host)->Shutdown();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  vmle::trainer::KeepFreedMemoryForReuse();
  vmle::BlockTerminationSignals();
  CLI::App app{"vmle-worker: VirtualMLE's trainer-worker"};
  vmle::ServerOptions server;
  server.service_name = "worker";
  server.listen = "0.0.0.0:50053";
  server.metrics_listen = "0.0.0.0:9093";
  std::string log_level = "info";
  std::string agent = "localhost:50051";
  vmle::worker::DatasetCacheOptions cache;
  cache.max_dataset_bytes = int64_t{16} << 30;
  vmle::worker::TrialRunnerOptions runner;
  vmle::worker::WorkerOptions worker;
  worker.hostname = Hostname();
  worker.worker_id = absl::StrCat(worker.hostname, "-", getpid());
  worker.version = VMLE_VERSION;

  vmle::AddServerFlags(app, server, log_level);
  vmle::AddFlag(app, "--agent", agent, "agent address HOST:PORT (its TrialQueue)");
  vmle::auth::ClientSecurityOptions agent_security;
  vmle::AddClientFlags(app, agent_security, "agent_", "agent");
  vmle::AddFlag(app, "--data_root", cache.data_root,
                "dataset paths are resolved under this directory; nothing outside it is read");
  vmle::AddFlag(app, "--device", runner.device, "device trials train on: cpu or cuda:N");
  vmle::AddFlag(app, "--worker_id", worker.worker_id, "name of this worker at the agent");
  app.add_option("--threads", runner.threads, "intra-op threads per trial (0: libtorch's default)")
      ->envname("VMLE_THREADS")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  app.add_option("--dataset_cache_entries", cache.max_entries, "datasets kept loaded in memory")
      ->envname("VMLE_DATASET_CACHE_ENTRIES")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--max_dataset_bytes", cache.max_dataset_bytes,
                 "largest dataset file read, in bytes as stored; bigger ones fail their trials "
                 "(RESOURCE_EXHAUSTED); 0: no limit")
      ->envname("VMLE_MAX_DATASET_BYTES")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--lease_wait_seconds", worker.lease_wait_seconds,
                 "long-poll time of each LeaseTrial call")
      ->envname("VMLE_LEASE_WAIT_SECONDS")
      ->check(CLI::Range(1, 120))
      ->capture_default_str();
  int progress_interval_ms = static_cast<int>(absl::ToInt64Milliseconds(worker.progress_interval));
  app.add_option("--progress_interval_ms", progress_interval_ms,
                 "epochs ending within this many ms of the last progress report go together in the "
                 "next one (0: a report per epoch)")
      ->envname("VMLE_PROGRESS_INTERVAL_MS")
      ->check(CLI::Range(0, 60000))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  worker.progress_interval = absl::Milliseconds(progress_interval_ms);

  if (absl::Status s = vmle::log::InitLogging(server.service_name, log_level); !s.ok()) {
    std::cerr << s.message() << "\n";
    return 1;
  }
  absl::StatusOr<vmle::auth::ClientSecurity> security = vmle::auth::LoadClientSecurity(agent_security);
  if (!security.ok()) return Fail(security.status());
  worker.agent_security = *std::move(security);
  return Run(server, agent, cache, runner, worker);
}
