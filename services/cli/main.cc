// vmle: the VirtualMLE command-line client. `vmle tune` runs everything in one
// process; the other subcommands talk to a running cluster (--agent, --memory).
#include <fstream>
#include <iostream>

#include "CLI/CLI.hpp"
#include "common/auth/client_channel.h"
#include "common/config/server_flags.h"
#include "common/logging/logging.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "services/cli/health_command.h"
#include "services/cli/progress.h"
#include "services/cli/report_files.h"
#include "services/cli/study_commands.h"
#include "services/cli/study_file.h"
#include "services/cli/tune.h"

namespace {

struct Globals {
  std::string agent = "localhost:50051";
  std::string memory = "localhost:50052";
  int timeout_seconds = 30;
};

void AddSpecFlags(CLI::App* cmd, vmle::cli::SpecFlags& f) {
  cmd->add_option("--name", f.name, "study name");
  cmd->add_option("--format", f.format, "dataset format (default: from the file name)");
  cmd->add_option("--backbone", f.backbone, "sasrec or hstu");
  cmd->add_option("--planner", f.planner, "heuristic, llm, opro, tpe, random, random_default, grid");
  cmd->add_option("--metric", f.metric, "validation objective, e.g. ndcg@10, recall@10");
  cmd->add_option("--trials", f.trials, "trial budget");
  cmd->add_option("--parallel", f.parallel, "trials run at once");
  cmd->add_option("--max_failed", f.max_failed, "the study fails after this many failed trials");
  cmd->add_option("--max_wall_seconds", f.max_wall_seconds, "wall-time limit of the study");
  cmd->add_option("--patience", f.patience, "stop after this many trials without a new best");
  cmd->add_option("--early_stopping", f.early_stopping, "off, median or halving");
  cmd->add_option("--seed", f.seed, "seed of the planner and trials")->each([&f](const std::string&) { f.has_seed = true; });
  cmd->add_option("--study_device", f.device, "device preference sent to workers (cpu, cuda)");
  cmd->add_option("--option", f.planner_options, "planner option KEY=VALUE (repeatable)");
  cmd->add_option("--fixed", f.fixed, "fixed parameter KEY=VALUE (repeatable)");
  cmd->add_flag("--reflection_off", f.reflection_off, "ablation: no reflection");
  cmd->add_flag("--memory_off", f.memory_off, "ablation: no L1/L2 memory in planning");
  cmd->add_flag("--transfer_off", f.transfer_off, "ablation: no recall of cognition summaries");
}

int Fail(const std::string& command, const absl::Status& status) {
  std::cerr << "vmle " << command << ": " << status.message() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Ctrl-C and SIGTERM keep their default action: `vmle tune` stops at once, and its
  // state directory (written through before every acknowledgement) lets the next run
  // continue the unfinished study.
  CLI::App app{"vmle: VirtualMLE command-line client"};
  app.require_subcommand(1);
  Globals g;
  app.add_option("--agent", g.agent, "agent address HOST:PORT")->envname("VMLE_AGENT")->capture_default_str();
  app.add_option("--memory", g.memory, "memory service address HOST:PORT")->envname("VMLE_MEMORY")->capture_default_str();
  app.add_option("--timeout", g.timeout_seconds, "seconds per call")->capture_default_str();
  vmle::auth::ClientSecurityOptions security_options;
  vmle::AddClientFlags(app, security_options, "", "agent and memory services");

  vmle::cli::HealthOptions health;
  CLI::App* health_cmd = app.add_subcommand("health", "check the health of VirtualMLE services");
  health_cmd->add_option("targets", health.targets, "service addresses HOST:PORT")->required();
  health_cmd->add_option("--timeout", health.timeout_seconds, "seconds per service")->capture_default_str();

  vmle::cli::SpecFlags submit_flags;
  std::string study_file, request_id;
  bool submit_watch = false;
  CLI::App* submit = app.add_subcommand("submit", "submit a study (from a JSON/YAML file and/or flags)");
  submit->add_option("--file", study_file, "study file (vmle.v1.StudySpec as JSON or YAML)");
  submit->add_option("--data", submit_flags.data, "dataset path under the workers' data root");
  submit->add_option("--request_id", request_id, "idempotency token: resubmitting returns the same study");
  submit->add_flag("--watch", submit_watch, "follow the study until it ends");
  AddSpecFlags(submit, submit_flags);

  std::string study_id;
  vmle::cli::WatchOptions watch_options;
  CLI::App* watch = app.add_subcommand("watch", "follow a study live until it ends");
  watch->add_option("study", study_id, "study id")->required();
  watch->add_flag("--verbose", watch_options.verbose, "also show per-epoch progress");
  watch->add_option("--after", watch_options.after_sequence, "replay events after this sequence number");

  std::vector<std::string> states;
  CLI::App* list = app.add_subcommand("list", "list studies");
  list->add_option("--state", states, "only studies in these states (running, succeeded, ...)");
  CLI::App* get = app.add_subcommand("get", "print a study as JSON");
  get->add_option("study", study_id, "study id")->required();
  std::string reason;
  CLI::App* cancel = app.add_subcommand("cancel", "cancel a study (running trials are told to stop)");
  cancel->add_option("study", study_id, "study id")->required();
  cancel->add_option("--reason", reason, "why, for the study's log");
  int more_trials = 0;
  CLI::App* resume = app.add_subcommand("resume", "continue a finished or cancelled study with more trials");
  resume->add_option("study", study_id, "study id")->required();
  resume->add_option("--trials", more_trials, "trials to add")->required();
  std::string report_dir = ".";
  CLI::App* report = app.add_subcommand("report", "write a study's report (Markdown + best-so-far SVG)");
  report->add_option("study", study_id, "study id")->required();
  report->add_option("--out", report_dir, "directory for the report files")->capture_default_str();
  bool csv = false;
  CLI::App* trials = app.add_subcommand("trials", "list a study's trials");
  trials->add_option("study", study_id, "study id")->required();
  trials->add_flag("--csv", csv, "as CSV, one column per parameter and metric");

  std::string transcript_id, transcript_path;
  CLI::App* upload = app.add_subcommand(
      "upload-transcript", "store an LLM transcript on the agent for studies to replay (operator role)");
  upload->add_option("file", transcript_path, "transcript (JSON lines, as the agent records them)")->required();
  upload->add_option("--id", transcript_id, "the name studies replay it by ([A-Za-z0-9_-], not st-...)")
      ->required();

  CLI::App* cognition = app.add_subcommand("cognition", "export or import cognition summaries");
  cognition->require_subcommand(1);
  std::string backbone, import_path;
  bool overwrite = false;
  CLI::App* cog_export = cognition->add_subcommand("export", "print every summary as JSON");
  cog_export->add_option("--backbone", backbone, "only this backbone (sasrec, hstu)");
  CLI::App* cog_import = cognition->add_subcommand("import", "import summaries from a JSON export");
  cog_import->add_option("file", import_path, "JSON file written by `vmle cognition export`")->required();
  cog_import->add_flag("--overwrite", overwrite, "replace summaries with the same id");

  vmle::cli::TuneOptions tune;
  CLI::App* tune_cmd = app.add_subcommand("tune", "tune in one process: memory, agent and workers embedded");
  tune_cmd->add_option("--data", tune.data, "dataset file (default: the built-in synthetic dataset)");
  tune_cmd->add_option("--data_root", tune.data_root, "resolve dataset paths under this directory");
  tune_cmd->add_option("--file", tune.study_file, "study file (JSON or YAML); flags override it");
  tune_cmd->add_option("--state_dir", tune.state_dir, "memory store and reports (reused by later runs)")
      ->capture_default_str();
  tune_cmd->add_option("--device", tune.device, "cpu or cuda:N")->capture_default_str();
  tune_cmd->add_option("--threads", tune.threads, "intra-op threads per worker")->capture_default_str();
  tune_cmd->add_option("--workers", tune.workers, "workers (default: --parallel)");
  tune_cmd->add_option("--listen", tune.listen, "also serve the agent on HOST:PORT while tuning");
  tune_cmd->add_option("--listen_tls_cert", tune.listen_tls.cert_file, "PEM certificate chain of --listen (TLS)");
  tune_cmd->add_option("--listen_tls_key", tune.listen_tls.key_file, "PEM private key of --listen_tls_cert");
  tune_cmd->add_option("--listen_tls_client_ca", tune.listen_tls.client_ca_file,
                       "PEM CA bundle: --listen requires client certificates it signed");
  tune_cmd->add_option("--listen_auth_tokens_file", tune.listen_auth_tokens_file,
                       "bearer tokens by role for --listen (as a service's --auth_tokens_file); without it, "
                       "any caller may call any method");
  tune_cmd->add_option("--metrics_listen", tune.metrics_listen,
                       "serve Prometheus /metrics of the embedded agent and memory on HOST:PORT (default: off)");
  tune_cmd->add_option("--llm_endpoints_file", tune.llm_endpoints_file,
                       "LLM endpoints of the llm and opro planners (YAML or JSON; README \"LLM endpoints\")");
  tune_cmd->add_option("--transcript_dir", tune.transcript_dir,
                       "where LLM transcripts are recorded, one per study (default: <state_dir>/transcripts)");
  tune_cmd->add_flag("--verbose", tune.verbose, "show per-epoch progress");
  AddSpecFlags(tune_cmd, tune.spec);

  CLI11_PARSE(app, argc, argv);
  if (absl::Status s = vmle::log::InitLogging("vmle", tune_cmd->parsed() ? "warn" : "error"); !s.ok()) {
    return Fail("", s);
  }
  const absl::Duration timeout = absl::Seconds(g.timeout_seconds);
  absl::StatusOr<vmle::auth::ClientSecurity> security = vmle::auth::LoadClientSecurity(security_options);
  if (!security.ok()) return Fail("", security.status());

  if (health_cmd->parsed()) {
    health.security = *security;
    const absl::Status status = vmle::cli::RunHealth(health, std::cout);
    return status.ok() ? 0 : Fail("health", status);
  }
  if (tune_cmd->parsed()) {
    absl::StatusOr<vmle::v1::StudyReport> result = vmle::cli::RunTune(tune, std::cout);
    if (!result.ok()) return Fail("tune", result.status());
    return result->study().state() == vmle::v1::STUDY_STATE_SUCCEEDED ? 0 : 2;
  }
  if (cognition->parsed()) {
    auto memory = vmle::v1::MemoryService::NewStub(vmle::auth::MakeClientChannel(g.memory, *security));
    const absl::Status status = cog_export->parsed()
                                    ? vmle::cli::ExportCognition(*memory, backbone, timeout, std::cout)
                                    : vmle::cli::ImportCognition(*memory, import_path, overwrite, timeout, std::cout);
    return status.ok() ? 0 : Fail("cognition", status);
  }

  auto studies = vmle::v1::StudyService::NewStub(vmle::auth::MakeClientChannel(g.agent, *security));
  absl::Status status;
  if (submit->parsed()) {
    vmle::v1::StudySpec spec;
    if (!study_file.empty()) {
      absl::StatusOr<vmle::v1::StudySpec> read = vmle::cli::ReadStudyFile(study_file);
      if (!read.ok()) return Fail("submit", read.status());
      spec = *std::move(read);
    }
    absl::StatusOr<vmle::v1::StudySpec> merged = vmle::cli::ApplySpecFlags(submit_flags, spec);
    if (!merged.ok()) return Fail("submit", merged.status());
    absl::StatusOr<vmle::v1::Study> study = vmle::cli::Submit(*studies, *merged, request_id, timeout);
    if (!study.ok()) return Fail("submit", study.status());
    std::cout << study->id() << "\n";
    if (submit_watch) status = vmle::cli::WatchStudy(*studies, study->id(), watch_options, std::cout).status();
  } else if (watch->parsed()) {
    status = vmle::cli::WatchStudy(*studies, study_id, watch_options, std::cout).status();
  } else if (list->parsed()) {
    status = vmle::cli::ListStudies(*studies, states, timeout, std::cout);
  } else if (get->parsed()) {
    status = vmle::cli::GetStudy(*studies, study_id, timeout, std::cout);
  } else if (cancel->parsed()) {
    status = vmle::cli::CancelStudy(*studies, study_id, reason, timeout, std::cout);
  } else if (upload->parsed()) {
    status = vmle::cli::UploadTranscript(*studies, transcript_id, transcript_path, timeout, std::cout);
  } else if (resume->parsed()) {
    status = vmle::cli::ResumeStudy(*studies, study_id, more_trials, timeout, std::cout);
  } else if (report->parsed()) {
    absl::StatusOr<vmle::v1::StudyReport> r = vmle::cli::GetReport(*studies, study_id, timeout);
    absl::StatusOr<std::string> path = r.ok() ? vmle::cli::WriteReportFiles(*r, report_dir) : r.status();
    status = path.status();
    if (path.ok()) std::cout << r->markdown() << "\nreport written to " << *path << "\n";
  } else if (trials->parsed()) {
    status = vmle::cli::ListTrials(*studies, study_id, csv, timeout, std::cout);
  }
  return status.ok() ? 0 : Fail(app.get_subcommands().front()->get_name(), status);
}
