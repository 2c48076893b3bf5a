#include "services/cli/tune.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/metrics/metrics.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "services/cli/progress.h"
#include "services/cli/report_files.h"
#include "services/cli/study_commands.h"
#include "services/embedded/embedded_cluster.h"
#include "services/trainer/worker/dataset_cache.h"
#include "services/trainer/worker/trial_runner.h"
#include "services/trainer/worker/worker.h"

namespace vmle::cli {
namespace {

// The spec of the run: the study file, the flags, then the dataset.
absl::StatusOr<vmle::v1::StudySpec> TuneSpec(const TuneOptions& options, std::string* data_root) {
  vmle::v1::StudySpec spec;
  if (!options.study_file.empty()) {
    absl::StatusOr<vmle::v1::StudySpec> read = ReadStudyFile(options.study_file);
    if (!read.ok()) return read.status();
    spec = *std::move(read);
  }
  SpecFlags flags = options.spec;
  flags.data.clear();
  absl::StatusOr<vmle::v1::StudySpec> merged = ApplySpecFlags(flags, spec);
  if (!merged.ok()) return merged.status();
  spec = *std::move(merged);
  std::error_code ec;
  *data_root = options.data_root.empty() ? std::filesystem::current_path(ec).string() : options.data_root;
  if (options.data.empty()) {
    if (spec.dataset().path().empty() && spec.dataset().format() == vmle::v1::DATASET_FORMAT_UNSPECIFIED) {
      spec.mutable_dataset()->set_format(vmle::v1::DATASET_FORMAT_SYNTHETIC);
    }
    return spec;
  }
  const std::filesystem::path data = std::filesystem::absolute(options.data, ec);
  if (ec || !std::filesystem::is_regular_file(data)) {
    return absl::NotFoundError("--data: no such file: " + options.data);
  }
  if (options.data_root.empty()) {
    *data_root = data.parent_path().string();
    spec.mutable_dataset()->set_path(data.filename().string());
  } else {
    const std::filesystem::path relative = std::filesystem::relative(data, std::filesystem::absolute(options.data_root), ec);
    spec.mutable_dataset()->set_path(relative.string());
  }
  return spec;
}

// A hash of the run's settings (its spec): the prefix of the idempotency token of each
// study `vmle tune` submits with them.
std::string SettingsKey(const vmle::v1::StudySpec& spec) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    spec.SerializeToCodedStream(&coded);
  }
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ULL;
  return absl::StrFormat("tune-%016x", h);
}

// The file in --state_dir naming the study of the last run: "<request id> <study id>".
std::string RunFile(const std::string& state_dir) { return state_dir + "/tune-study"; }

// The idempotency token of this run. The state directory's last study, when it is
// unfinished, is continued if it has these settings (its token starts with
// `settings`) and refused otherwise (its workers would serve both); in every other case
// a new study starts, with a fresh token.
absl::StatusOr<std::string> RunRequestId(vmle::v1::StudyService::StubInterface& studies, const std::string& settings,
                                         const std::string& state_dir) {
  const std::string fresh = absl::StrFormat("%s-%x", settings, absl::ToUnixNanos(absl::Now()));
  std::ifstream in(RunFile(state_dir));
  std::string last_request, last_study;
  if (!(in >> last_request >> last_study)) return fresh;
  absl::StatusOr<vmle::v1::Study> last = FetchStudy(studies, last_study, absl::Seconds(30));
  if (!last.ok()) return absl::IsNotFound(last.status()) ? absl::StatusOr<std::string>(fresh) : last.status();
  if (last->state() != vmle::v1::STUDY_STATE_PENDING && last->state() != vmle::v1::STUDY_STATE_RUNNING) {
    return fresh;
  }
  if (absl::StartsWith(last_request, settings + "-")) return last_request;
  return absl::FailedPreconditionError(absl::StrCat(
      "--state_dir ", state_dir, " holds the unfinished study ", last_study,
      " of other settings; run vmle tune again with that study's settings to continue it, or give another "
      "--state_dir"));
}

absl::Status WriteRunFile(const std::string& state_dir, const std::string& request_id, const std::string& study) {
  const std::string path = RunFile(state_dir);
  {
    std::ofstream out(path + ".tmp", std::ios::trunc);
    out << request_id << " " << study << "\n";
    if (!out.flush()) return absl::InternalError("cannot write " + path + ".tmp");
  }
  std::error_code ec;
  std::filesystem::rename(path + ".tmp", path, ec);
  if (ec) return absl::InternalError("cannot write " + path + ": " + ec.message());
  return absl::OkStatus();
}

std::string Hostname() {
  char name[256] = {0};
  if (gethostname(name, sizeof(name) - 1) != 0) return "localhost";
  return name;
}

// The worker cores of the run, sharing one dataset cache.
struct LocalWorkers {
  std::unique_ptr<worker::DatasetCache> datasets;
  std::unique_ptr<worker::TrialRunner> runner;
  std::vector<std::unique_ptr<worker::Worker>> workers;

  ~LocalWorkers() {
    for (auto& w : workers) w->Stop();
  }
};

absl::StatusOr<std::unique_ptr<LocalWorkers>> StartWorkers(const TuneOptions& options, const std::string& data_root,
                                                           int count, std::shared_ptr<grpc::Channel> channel) {
  auto local = std::make_unique<LocalWorkers>();
  worker::DatasetCacheOptions cache;
  cache.data_root = data_root;
  absl::StatusOr<std::unique_ptr<worker::DatasetCache>> datasets = worker::DatasetCache::Create(cache);
  if (!datasets.ok()) return datasets.status();
  local->datasets = *std::move(datasets);
  worker::TrialRunnerOptions runner;
  runner.datasets = local->datasets.get();
  runner.device = options.device;
  runner.threads = options.threads;
  local->runner = std::make_unique<worker::TrialRunner>(runner);
  if (absl::Status s = local->runner->CheckDevice(); !s.ok()) return s;
  for (int i = 0; i < count; ++i) {
    worker::WorkerOptions w;
    w.worker_id = absl::StrCat(Hostname(), "-tune-", getpid(), "-", i);
    w.hostname = Hostname();
    w.lease_wait_seconds = 5;
    local->workers.push_back(std::make_unique<worker::Worker>(w, channel, local->runner.get()));
    local->workers.back()->Start();
  }
  return local;
}

}  // namespace

absl::StatusOr<vmle::v1::StudyReport> RunTune(const TuneOptions& options, std::ostream& out) {
  std::string data_root;
  absl::StatusOr<vmle::v1::StudySpec> spec = TuneSpec(options, &data_root);
  if (!spec.ok()) return spec.status();
  if (spec->budget().max_trials() == 0) spec->mutable_budget()->set_max_trials(8);

  embedded::EmbeddedCluster::Options cluster_options;
  cluster_options.state_dir = options.state_dir + "/state";
  cluster_options.listen = options.listen;
  if (!options.listen.empty()) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
        MakeServerCredentials(options.listen_tls, options.listen_auth_tokens_file);
    if (!credentials.ok()) {  // name our flags: --listen_tls_cert, not the services' --tls_cert
      return absl::Status(credentials.status().code(),
                          absl::StrReplaceAll(credentials.status().message(), {{"--", "--listen_"}}));
    }
    cluster_options.listen_credentials = *std::move(credentials);
  } else if (options.listen_tls.enabled() || !options.listen_auth_tokens_file.empty()) {
    return absl::InvalidArgumentError("--listen_tls_cert, --listen_tls_key, --listen_tls_client_ca and --listen_auth_tokens_file need --listen");
  }
  std::unique_ptr<MetricsServer> metrics;
  if (!options.metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<MetricsServer>> started = MetricsServer::Start(options.metrics_listen, "tune", "");
    if (!started.ok()) {
      return absl::Status(started.status().code(),
                          absl::StrCat("--metrics_listen: ", started.status().message()));
    }
    metrics = *std::move(started);
    cluster_options.registry = &metrics->registry();
    cluster_options.metrics_port = metrics->port();
  }
  // Without --listen the only workers are this process's: none survived an earlier run.
  cluster_options.agent.workers_survive_restart = !options.listen.empty();
  if (!options.llm_endpoints_file.empty()) {
    absl::StatusOr<std::vector<agent::llm::LlmEndpoint>> endpoints =
        agent::llm::LoadLlmEndpoints(options.llm_endpoints_file);
    if (!endpoints.ok()) return endpoints.status();
    cluster_options.agent.llm.endpoints = *std::move(endpoints);
  }
  cluster_options.agent.llm.transcript_dir =
      options.transcript_dir.empty() ? options.state_dir + "/transcripts" : options.transcript_dir;
  if (absl::Status s = agent::llm::PrepareTranscriptDir(cluster_options.agent.llm.transcript_dir); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<embedded::EmbeddedCluster>> cluster =
      embedded::EmbeddedCluster::Start(cluster_options);
  if (!cluster.ok()) return cluster.status();
  if (!options.listen.empty()) out << "agent serving on port " << (*cluster)->agent_port() << "\n";
  if (metrics != nullptr) out << "metrics on port " << metrics->port() << "\n";
  auto studies = vmle::v1::StudyService::NewStub((*cluster)->agent_channel());
  absl::StatusOr<std::string> request_id = RunRequestId(*studies, SettingsKey(*spec), options.state_dir);
  if (!request_id.ok()) return request_id.status();
  absl::StatusOr<vmle::v1::Study> study = Submit(*studies, *spec, *request_id, absl::Seconds(30));
  if (!study.ok()) return study.status();
  if (absl::Status s = WriteRunFile(options.state_dir, *request_id, study->id()); !s.ok()) return s;
  if (study->trials_total() > 0) {
    out << "continuing study " << study->id() << " from " << options.state_dir << " ("
        << study->trials_succeeded() + study->trials_failed() + study->trials_stopped() << " trials finished)\n";
  }
  const int parallel = study->spec().budget().parallelism();
  const int count = options.workers > 0 ? options.workers : parallel;
  out << "study " << study->id() << ": " << study->spec().dataset().name() << ", "
      << vmle::v1::Backbone_Name(study->spec().backbone()) << ", " << study->spec().planner().name() << " planner, "
      << study->spec().budget().max_trials() << " trials, " << parallel << " in parallel on " << count << " "
      << options.device << " worker(s), state in " << options.state_dir << std::endl;

  absl::StatusOr<std::unique_ptr<LocalWorkers>> workers =
      StartWorkers(options, data_root, count, (*cluster)->agent_channel());
  if (!workers.ok()) return workers.status();
  WatchOptions watch;
  watch.verbose = options.verbose;
  absl::StatusOr<vmle::v1::Study> ended = WatchStudy(*studies, study->id(), watch, out);
  workers->reset();
  if (!ended.ok()) return ended.status();
  absl::StatusOr<vmle::v1::StudyReport> report = GetReport(*studies, study->id(), absl::Seconds(30));
  if (!report.ok()) return report.status();
  absl::StatusOr<std::string> path = WriteReportFiles(*report, options.state_dir + "/reports");
  if (!path.ok()) return path.status();
  out << "\n" << report->markdown() << "\nreport written to " << *path << std::endl;
  (*cluster)->Stop();
  return report;
}

}  // namespace vmle::cli
