// vmle-bench-memory: a load generator for vmle-memory over gRPC. Several concurrent
// clients, each with its own connection and study, run one phase per operation:
//   put_trial            PutTrial of new trials (a write: WAL-synced on the server
//                        unless it runs with --sync_writes=false)
//   commit_trial_result  trial + study (version-checked) + event, atomically
//   get_trial            GetTrial of a random trial written before
//   list_trials          ListTrials, a page of up to 100 trials
// Each phase stops after --seconds or --max_ops operations, whichever comes first,
// and the table gives throughput and latency percentiles per phase.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "vmle/v1/memory_service.grpc.pb.h"

namespace vmle::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string target;
  int clients = 8;
  int seconds = 10;
  int64_t max_ops = 1000000;
  int epochs = 20;
};

struct PhaseResult {
  std::string op;
  int64_t ops = 0;
  int64_t errors = 0;
  double seconds = 0;
  std::vector<double> latencies_ms;
};

// One client: its own connection, its own study, the trials it wrote so far.
struct Client {
  std::unique_ptr<v1::MemoryService::Stub> stub;
  std::string study_id;
  int64_t study_version = 0;
  int trials = 0;
  int64_t events = 0;
  std::mt19937_64 random;
};

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return context;
}

// A trial record of realistic size: a configuration and `epochs` per-epoch metrics.
v1::Trial MakeTrial(const Client& client, int number, int epochs) {
  v1::Trial trial;
  trial.set_id(absl::StrCat("t-", number));
  trial.set_study_id(client.study_id);
  trial.set_number(number);
  trial.set_status(v1::TRIAL_STATUS_SUCCEEDED);
  auto& values = *trial.mutable_config()->mutable_values();
  values["hidden_dim"].set_int_value(128);
  values["lr"].set_float_value(3e-4);
  values["optimizer"].set_categorical_value("adam");
  values["tie_embeddings"].set_bool_value(true);
  trial.mutable_proposal()->set_hypothesis("a smaller learning rate stabilises training");
  trial.mutable_proposal()->set_changed_dimension("lr");
  for (int e = 1; e <= epochs; ++e) {
    v1::EpochMetrics* epoch = trial.add_epochs();
    epoch->set_epoch(e);
    epoch->set_train_loss(5.0 / e);
    epoch->mutable_validation()->set_ndcg_at_10(0.01 * e);
    epoch->mutable_validation()->set_recall_at_10(0.02 * e);
    epoch->set_epoch_seconds(12.5);
  }
  trial.set_objective_value(0.05);
  return trial;
}

// One operation of a phase; returns whether it succeeded.
using Operation = std::function<bool(Client&)>;

PhaseResult RunPhase(const std::string& op, std::vector<Client>& clients, const Options& options,
                     const Operation& operation) {
  std::atomic<int64_t> issued{0};
  std::vector<PhaseResult> partial(clients.size());
  const Clock::time_point start = Clock::now();
  const Clock::time_point end = start + std::chrono::seconds(options.seconds);
  std::vector<std::thread> threads;
  for (size_t c = 0; c < clients.size(); ++c) {
    threads.emplace_back([&, c] {
      while (Clock::now() < end && issued.fetch_add(1) < options.max_ops) {
        const Clock::time_point t0 = Clock::now();
        const bool ok = operation(clients[c]);
        const std::chrono::duration<double, std::milli> ms = Clock::now() - t0;
        partial[c].latencies_ms.push_back(ms.count());
        ++partial[c].ops;
        if (!ok) ++partial[c].errors;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  PhaseResult result;
  result.op = op;
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (PhaseResult& p : partial) {
    result.ops += p.ops;
    result.errors += p.errors;
    result.latencies_ms.insert(result.latencies_ms.end(), p.latencies_ms.begin(),
                               p.latencies_ms.end());
  }
  return result;
}

double Percentile(std::vector<double>& values, double q) {
  if (values.empty()) return 0;
  const size_t k = std::min(values.size() - 1, static_cast<size_t>(q * values.size()));
  std::nth_element(values.begin(), values.begin() + k, values.end());
  return values[k];
}

bool PutTrial(Client& client, int epochs) {
  v1::PutTrialRequest request;
  *request.mutable_trial() = MakeTrial(client, client.trials + 1, epochs);
  v1::PutTrialResponse response;
  if (!client.stub->PutTrial(Context().get(), request, &response).ok()) return false;
  ++client.trials;
  return true;
}

bool CommitTrialResult(Client& client, int epochs) {
  v1::CommitTrialResultRequest request;
  *request.mutable_trial() = MakeTrial(client, client.trials + 1, epochs);
  v1::Study* study = request.mutable_study();
  study->set_id(client.study_id);
  study->set_state(v1::STUDY_STATE_RUNNING);
  study->set_trials_total(client.trials + 1);
  study->set_best_trial_id(request.trial().id());
  study->set_has_best(true);
  v1::StudyEvent* event = request.add_events();
  event->set_study_id(client.study_id);
  event->set_sequence(client.events + 1);
  event->set_type(v1::StudyEvent::TYPE_TRIAL_FINISHED);
  event->set_trial_id(request.trial().id());
  request.set_expected_study_version(client.study_version);
  v1::CommitTrialResultResponse response;
  if (!client.stub->CommitTrialResult(Context().get(), request, &response).ok()) return false;
  ++client.trials;
  ++client.events;
  client.study_version = response.study_version();
  return true;
}

bool GetTrial(Client& client) {
  if (client.trials == 0) return false;
  v1::GetTrialRequest request;
  request.set_study_id(client.study_id);
  request.set_trial_id(
      absl::StrCat("t-", std::uniform_int_distribution<int>(1, client.trials)(client.random)));
  v1::Trial trial;
  return client.stub->GetTrial(Context().get(), request, &trial).ok();
}

bool ListTrials(Client& client) {
  v1::ListTrialRecordsRequest request;
  request.set_study_id(client.study_id);
  request.set_page_size(100);
  v1::ListTrialRecordsResponse response;
  return client.stub->ListTrials(Context().get(), request, &response).ok();
}

int Run(const Options& options) {
  std::vector<Client> clients(options.clients);
  const std::string run_id = absl::StrCat(::getpid(), "-", ::time(nullptr));
  for (int c = 0; c < options.clients; ++c) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection per client
    clients[c].stub = v1::MemoryService::NewStub(
        grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), args));
    clients[c].study_id = absl::StrCat("bench-", run_id, "-", c);
    clients[c].random.seed(c);
    v1::PutStudyRequest request;
    request.mutable_study()->set_id(clients[c].study_id);
    request.mutable_study()->set_state(v1::STUDY_STATE_RUNNING);
    v1::PutStudyResponse response;
    const grpc::Status status = clients[c].stub->PutStudy(Context().get(), request, &response);
    if (!status.ok()) {
      std::fprintf(stderr, "vmle-bench-memory: PutStudy on %s failed: %s\n", options.target.c_str(),
                   status.error_message().c_str());
      return 1;
    }
    clients[c].study_version = response.version();
  }
  const size_t record_bytes = MakeTrial(clients[0], 1, options.epochs).ByteSizeLong();

  std::vector<PhaseResult> results;
  results.push_back(RunPhase("put_trial", clients, options,
                             [&](Client& c) { return PutTrial(c, options.epochs); }));
  results.push_back(RunPhase("commit_trial_result", clients, options,
                             [&](Client& c) { return CommitTrialResult(c, options.epochs); }));
  results.push_back(RunPhase("get_trial", clients, options, GetTrial));
  results.push_back(RunPhase("list_trials", clients, options, ListTrials));

  std::printf(
      "vmle-memory load: %d clients, phases of up to %d s or %lld ops, target %s, "
      "trial record %zu bytes\n\n",
      options.clients, options.seconds, static_cast<long long>(options.max_ops),
      options.target.c_str(), record_bytes);
  std::printf("%-20s %10s %8s %12s %9s %9s %9s\n", "op", "ops", "errors", "ops/s", "p50 ms",
              "p99 ms", "max ms");
  int64_t errors = 0;
  for (PhaseResult& r : results) {
    const double throughput = r.seconds > 0 ? r.ops / r.seconds : 0;
    const double p50 = Percentile(r.latencies_ms, 0.50);
    const double p99 = Percentile(r.latencies_ms, 0.99);
    const double max = Percentile(r.latencies_ms, 1.0);
    std::printf("%-20s %10lld %8lld %12.1f %9.3f %9.3f %9.3f\n", r.op.c_str(),
                static_cast<long long>(r.ops), static_cast<long long>(r.errors), throughput, p50,
                p99, max);
    errors += r.errors;
  }

  v1::GetStatsResponse stats;
  if (clients[0].stub->GetStats(Context().get(), {}, &stats).ok()) {
    std::printf("\nserver: %lld trials, %lld events, %.1f MiB on disk\n",
                static_cast<long long>(stats.records().at("trials")),
                static_cast<long long>(stats.records().at("events")),
                stats.bytes_on_disk() / (1024.0 * 1024.0));
  }
  return errors == 0 ? 0 : 2;
}

}  // namespace
}  // namespace vmle::bench

int main(int argc, char** argv) {
  CLI::App app{"vmle-bench-memory: gRPC load generator for vmle-memory"};
  vmle::bench::Options options;
  app.add_option("--target", options.target, "vmle-memory address HOST:PORT")->required();
  app.add_option("--clients", options.clients, "concurrent clients, one connection each")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--seconds", options.seconds, "longest duration of each phase")
      ->check(CLI::Range(1, 600))
      ->capture_default_str();
  app.add_option("--max_ops", options.max_ops, "most operations of each phase")
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}))
      ->capture_default_str();
  app.add_option("--epochs", options.epochs, "epochs per trial record (sizes the writes)")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return vmle::bench::Run(options);
}
