// `vmle tune`: the embedded default. The memory service, the agent and `workers`
// trainer-workers run in this process (EmbeddedCluster plus worker cores on its
// in-process channel); the study is submitted, followed live on the terminal and its
// report printed and written under <state_dir>/reports. The memory store lives in
// <state_dir>/state and is reused by later runs, so cognition summaries distilled by
// one run are recalled by the next on a similar dataset (and an unfinished study of
// an interrupted run is continued).
#pragma once

#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "common/server/server.h"
#include "services/cli/study_file.h"
#include "vmle/v1/study_service.pb.h"

namespace vmle::cli {

struct TuneOptions {
  // The dataset file; empty: the built-in synthetic dataset.
  std::string data;
  // Dataset paths are resolved under this directory; empty: the data file's.
  std::string data_root;
  // An optional study file; flags override it.
  std::string study_file;
  // Study settings (planner, trials, parallel, backbone, ...).
  SpecFlags spec;
  // Where the memory store and the reports go.
  std::string state_dir = ".vmle";
  // Device and intra-op threads of each worker.
  std::string device = "cpu";
  int threads = 1;
  // Workers in this process; 0: the study's parallelism.
  int workers = 0;
  // Also serve the agent on this address while tuning (grpcurl, vmle watch, outside
  // workers), with TLS and bearer tokens as a service's --tls_* and --auth_tokens_file.
  std::string listen;
  TlsOptions listen_tls;
  std::string listen_auth_tokens_file;
  // Serve Prometheus /metrics of the embedded services on HOST:PORT; empty: off.
  std::string metrics_listen;
  // The LLM endpoints of the llm and opro planners (services/agent/llm/llm_endpoints.h);
  // empty: none.
  std::string llm_endpoints_file;
  // Where the agent records LLM transcripts, one per study; empty:
  // <state_dir>/transcripts.
  std::string transcript_dir;
  // Print per-epoch progress too.
  bool verbose = false;
};

// Runs the study to its end and returns its report.
absl::StatusOr<vmle::v1::StudyReport> RunTune(const TuneOptions& options, std::ostream& out);

}  // namespace vmle::cli
