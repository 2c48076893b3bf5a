// vmle-agent: plans, schedules and reflects on tuning studies (StudyService for
// users, TrialQueue for workers); its state lives in the memory service.
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/auth/client_channel.h"
#include "common/config/server_flags.h"
#include "common/logging/logging.h"
#include "common/server/run.h"
#include "common/server/signals.h"
#include "services/agent/service/agent.h"
#include "services/agent/study/memory_client.h"
#include "services/agent/study/study_manager.h"

int main(int argc, char** argv) {
  vmle::BlockTerminationSignals();
  CLI::App app{"vmle-agent: VirtualMLE's tuning agent (StudyService, TrialQueue)"};
  vmle::ServerOptions server;
  server.service_name = "agent";
  server.listen = "0.0.0.0:50051";
  server.metrics_listen = "0.0.0.0:9091";
  std::string log_level = "info";
  std::string memory_address = "localhost:50052";
  int lease_seconds = 60;
  int heartbeat_seconds = 10;
  int max_active_studies = 64;
  std::string llm_endpoints_file;
  std::string transcript_dir;
  int max_long_polls_per_caller = vmle::agent::TrialQueueImpl::kDefaultMaxLongPollsPerCaller;
  int max_watches_per_caller = vmle::agent::StudyServiceImpl::kDefaultMaxWatchesPerCaller;
  vmle::AddServerFlags(app, server, log_level);
  vmle::AddFlag(app, "--memory", memory_address, "memory service address HOST:PORT");
  vmle::auth::ClientSecurityOptions memory_security_options;
  vmle::AddClientFlags(app, memory_security_options, "memory_", "memory service");
  vmle::AddFlag(app, "--lease_seconds", lease_seconds,
                "a trial whose worker sends no heartbeat for this long is queued again");
  vmle::AddFlag(app, "--heartbeat_seconds", heartbeat_seconds, "how often workers are asked to heartbeat");
  vmle::AddFlag(app, "--max_active_studies", max_active_studies,
                "studies pending or running at once; more submissions get RESOURCE_EXHAUSTED (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  vmle::AddFlag(app, "--llm_endpoints_file", llm_endpoints_file,
                "LLM endpoints of the llm and opro planners (YAML or JSON: name, base_url, models, api_key_env or "
                "api_key_file, timeout_seconds, max_attempts); empty: none");
  vmle::AddFlag(app, "--transcript_dir", transcript_dir,
                "where LLM transcripts are recorded, one file per study, and replayed from; empty: none");
  vmle::AddFlag(app, "--max_long_polls_per_caller", max_long_polls_per_caller,
                "LeaseTrial long-polls one caller (bearer token, or host without auth) may hold open; more get "
                "RESOURCE_EXHAUSTED (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  vmle::AddFlag(app, "--max_watches_per_caller", max_watches_per_caller,
                "WatchStudy streams one caller may hold open; more get RESOURCE_EXHAUSTED (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);
  if (lease_seconds < 2 || heartbeat_seconds < 1 || heartbeat_seconds * 2 > lease_seconds) {
    vmle::log::Error("bad lease timing: need heartbeat_seconds >= 1 and lease_seconds >= 2 * heartbeat_seconds");
    return 1;
  }

  absl::StatusOr<vmle::auth::ClientSecurity> memory_security =
      vmle::auth::LoadClientSecurity(memory_security_options);
  if (!memory_security.ok()) {
    vmle::log::Error("startup failed", {{"error", memory_security.status().ToString()}});
    return 1;
  }
  vmle::agent::llm::LlmConfig llm;
  llm.transcript_dir = transcript_dir;
  if (!llm_endpoints_file.empty()) {
    absl::StatusOr<std::vector<vmle::agent::llm::LlmEndpoint>> endpoints =
        vmle::agent::llm::LoadLlmEndpoints(llm_endpoints_file);
    if (!endpoints.ok()) {
      vmle::log::Error("startup failed", {{"error", endpoints.status().ToString()}});
      return 1;
    }
    llm.endpoints = *std::move(endpoints);
  }
  if (absl::Status s = vmle::agent::llm::PrepareTranscriptDir(llm.transcript_dir); !s.ok()) {
    vmle::log::Error("startup failed", {{"error", s.ToString()}});
    return 1;
  }
  vmle::agent::MemoryClient memory(vmle::auth::MakeClientChannel(memory_address, *memory_security), {});
  std::unique_ptr<vmle::agent::Agent> agent;
  const int code = vmle::RunService(
      server, log_level,
      [&](vmle::MetricsServer& metrics) -> absl::StatusOr<std::vector<std::unique_ptr<grpc::Service>>> {
        vmle::agent::StudyManager::Options options;
        options.memory = &memory;
        options.registry = &metrics.registry();
        options.lease_duration = absl::Seconds(lease_seconds);
        options.heartbeat_interval = absl::Seconds(heartbeat_seconds);
        options.max_active_studies = max_active_studies;
        options.llm = llm;
        vmle::log::Info("loading unfinished studies", {{"memory", memory_address}});
        auto started = vmle::agent::Agent::Start(options, {max_watches_per_caller, max_long_polls_per_caller});
        if (!started.ok()) return started.status();
        agent = *std::move(started);
        return agent->TakeServices();
      },
      // Not ready while the memory service, the system of record, does not answer.
      [&memory] { return memory.Reachable(absl::Seconds(1)); });
  if (agent != nullptr) agent->Stop();
  return code;
}
