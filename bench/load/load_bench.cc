// bench/load: the agent under concurrent users, over TCP on loopback. Starts an
// embedded cluster (memory service on RocksDB with synced writes, the agent serving
// StudyService and TrialQueue on 127.0.0.1:<free port>) and --workers simulated
// workers that lease over that port, then for --seconds runs
//   --submitters threads, each submitting small studies back to back (at most
//     --studies in all; RESOURCE_EXHAUSTED from --max_active_studies counts as
//     "refused", not as an error, and the submitter backs off);
//   --watchers threads, each watching the newest study it has not watched yet to
//     its end (WatchStudy; latency = the whole stream);
//   --readers threads calling GetStudy, ListStudies and ListTrials in turn;
// and prints per operation: calls, errors, calls/s, p50, p99 and max latency; the
// studies and trials finished per second; errors by code. Bounded in threads,
// studies and time, so it is safe on a laptop.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/logging/logging.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "services/sim/sim_worker.h"
#include "services/embedded/embedded_cluster.h"
#include "vmle/v1/study_service.grpc.pb.h"

namespace {

using Stub = vmle::v1::StudyService::Stub;

struct Flags {
  int seconds = 20;
  int submitters = 4;
  int watchers = 8;
  int readers = 4;
  int workers = 16;
  int studies = 200;
  int trials = 4;
  int parallelism = 2;
  int epoch_ms = 5;
  int max_active_studies = 32;
  std::string dir;
};

// Latencies and outcomes of one operation, from many threads.
class OpStats {
 public:
  void Record(absl::Duration latency, const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    if (status.ok()) {
      latencies_ms_.push_back(absl::ToDoubleMilliseconds(latency));
    } else if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++refused_;
    } else {
      ++errors_[status.error_code()];
    }
  }

  void Print(const char* name, double seconds, std::map<int, int64_t>& errors_by_code) {
    absl::MutexLock lock(&mu_);
    std::sort(latencies_ms_.begin(), latencies_ms_.end());
    auto quantile = [&](double q) {
      if (latencies_ms_.empty()) return 0.0;
      return latencies_ms_[std::min(latencies_ms_.size() - 1, static_cast<size_t>(q * latencies_ms_.size()))];
    };
    int64_t errors = 0;
    for (const auto& [code, n] : errors_) {
      errors += n;
      errors_by_code[code] += n;
    }
    std::printf("%-12s %8zu %7lld %8lld %9.1f %8.2f %8.2f %8.2f\n", name, latencies_ms_.size(),
                static_cast<long long>(errors), static_cast<long long>(refused_),
                latencies_ms_.size() / seconds, quantile(0.5), quantile(0.99),
                latencies_ms_.empty() ? 0.0 : latencies_ms_.back());
  }

 private:
  absl::Mutex mu_;
  std::vector<double> latencies_ms_ ABSL_GUARDED_BY(mu_);
  std::map<int, int64_t> errors_ ABSL_GUARDED_BY(mu_);
  int64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
};

// One call with a deadline; returns its status and records it.
template <typename Call>
grpc::Status Timed(OpStats& stats, absl::Duration deadline, Call call) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  const absl::Time start = absl::Now();
  const grpc::Status status = call(context);
  stats.Record(absl::Now() - start, status);
  return status;
}

// The studies submitted so far, for the watchers and readers.
class Submitted {
 public:
  void Add(const std::string& id) {
    absl::MutexLock lock(&mu_);
    ids_.push_back(id);
  }
  // The id at `index` (wrapping), or "" when none yet.
  std::string At(size_t index) {
    absl::MutexLock lock(&mu_);
    return ids_.empty() ? "" : ids_[index % ids_.size()];
  }
  // The newest id not handed out by Next yet, or "".
  std::string Next() {
    absl::MutexLock lock(&mu_);
    return next_ < ids_.size() ? ids_[next_++] : "";
  }
  std::vector<std::string> All() {
    absl::MutexLock lock(&mu_);
    return ids_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> ids_ ABSL_GUARDED_BY(mu_);
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
};

vmle::v1::SubmitStudyRequest StudyRequest(const Flags& flags, int n) {
  vmle::v1::SubmitStudyRequest request;
  auto* spec = request.mutable_spec();
  spec->set_name(absl::StrFormat("load %d", n));
  spec->mutable_dataset()->set_format(vmle::v1::DATASET_FORMAT_SYNTHETIC);
  spec->mutable_dataset()->set_name("sim-beauty");
  spec->mutable_budget()->set_max_trials(flags.trials);
  spec->mutable_budget()->set_parallelism(flags.parallelism);
  spec->mutable_budget()->set_max_failed_trials(flags.trials);
  spec->mutable_planner()->set_name("random");
  spec->set_seed(n + 1);
  return request;
}

int Run(const Flags& flags) {
  std::string dir = flags.dir;
  if (dir.empty()) {
    dir = (std::filesystem::temp_directory_path() / absl::StrFormat("vmle-bench-load-%d", getpid())).string();
  }
  vmle::embedded::EmbeddedCluster::Options options;
  options.state_dir = dir;
  options.listen = "127.0.0.1:0";
  options.agent.max_active_studies = flags.max_active_studies;
  auto cluster = vmle::embedded::EmbeddedCluster::Start(options);
  if (!cluster.ok()) {
    std::fprintf(stderr, "cannot start the cluster: %s\n", std::string(cluster.status().message()).c_str());
    return 1;
  }
  const std::string address = absl::StrFormat("127.0.0.1:%d", (*cluster)->agent_port());
  std::vector<std::unique_ptr<vmle::agent::sim::SimWorker>> pool;
  auto worker_channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  for (int i = 0; i < flags.workers; ++i) {
    vmle::agent::sim::SimWorkerOptions w;
    w.worker_id = absl::StrFormat("load-%d", i);
    w.epoch_time = absl::Milliseconds(flags.epoch_ms);
    w.wait_seconds = 2;
    pool.push_back(std::make_unique<vmle::agent::sim::SimWorker>(worker_channel, w));
    pool.back()->Start();
  }

  OpStats submit, watch, get, list_studies, list_trials;
  Submitted submitted;
  std::atomic<int> next_study{0};
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(flags.seconds);
  std::vector<std::thread> threads;
  // One channel per client thread, as separate users would have.
  auto stub = [&] { return vmle::v1::StudyService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())); };
  for (int i = 0; i < flags.submitters; ++i) {
    threads.emplace_back([&, client = stub()] {
      while (absl::Now() < end) {
        const int n = next_study++;
        if (n >= flags.studies) break;
        vmle::v1::Study study;
        const grpc::Status status = Timed(submit, absl::Seconds(10), [&](grpc::ClientContext& c) {
          return client->SubmitStudy(&c, StudyRequest(flags, n), &study);
        });
        if (status.ok()) {
          submitted.Add(study.id());
        } else {
          --next_study;
          absl::SleepFor(absl::Milliseconds(status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ? 50 : 200));
        }
      }
    });
  }
  for (int i = 0; i < flags.watchers; ++i) {
    threads.emplace_back([&, client = stub()] {
      while (absl::Now() < end) {
        const std::string id = submitted.Next();
        if (id.empty()) {
          absl::SleepFor(absl::Milliseconds(20));
          continue;
        }
        Timed(watch, end - absl::Now() + absl::Seconds(1), [&](grpc::ClientContext& c) {
          vmle::v1::WatchStudyRequest request;
          request.set_study_id(id);
          auto reader = client->WatchStudy(&c, request);
          vmle::v1::StudyEvent event;
          while (reader->Read(&event)) {
          }
          grpc::Status status = reader->Finish();
          // Cut off by the end of the run: not an error.
          return status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ? grpc::Status::OK : status;
        });
      }
    });
  }
  for (int i = 0; i < flags.readers; ++i) {
    threads.emplace_back([&, i, client = stub()] {
      for (size_t call = i; absl::Now() < end; ++call) {
        const std::string id = submitted.At(call);
        if (id.empty()) {
          absl::SleepFor(absl::Milliseconds(20));
          continue;
        }
        vmle::v1::Study study;
        Timed(get, absl::Seconds(10), [&](grpc::ClientContext& c) {
          vmle::v1::GetStudyRequest request;
          request.set_study_id(id);
          return client->GetStudy(&c, request, &study);
        });
        vmle::v1::ListTrialsResponse trials;
        Timed(list_trials, absl::Seconds(10), [&](grpc::ClientContext& c) {
          vmle::v1::ListTrialsRequest request;
          request.set_study_id(id);
          return client->ListTrials(&c, request, &trials);
        });
        if (call % 10 == 0) {
          vmle::v1::ListStudiesResponse studies;
          Timed(list_studies, absl::Seconds(10), [&](grpc::ClientContext& c) {
            vmle::v1::ListStudiesRequest request;
            request.set_page_size(50);
            return client->ListStudies(&c, request, &studies);
          });
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);

  int finished = 0;
  int64_t trials = 0;
  for (const std::string& id : submitted.All()) {
    auto study = (*cluster)->manager().GetStudy(id);
    if (!study.ok()) continue;
    finished += study->state() == vmle::v1::STUDY_STATE_SUCCEEDED || study->state() == vmle::v1::STUDY_STATE_FAILED;
    trials += study->trials_succeeded() + study->trials_failed();
  }
  for (auto& w : pool) w->Stop();
  (*cluster)->Stop();
  std::filesystem::remove_all(dir);

  std::printf("vmle-bench-load: %d submitters, %d watchers, %d readers, %d simulated workers (%d ms an epoch), "
              "studies of %d trials (%d at once), max %d active studies, %.1f s\n",
              flags.submitters, flags.watchers, flags.readers, flags.workers, flags.epoch_ms, flags.trials,
              flags.parallelism, flags.max_active_studies, seconds);
  std::printf("%-12s %8s %7s %8s %9s %8s %8s %8s\n", "operation", "ok", "errors", "refused", "ok/s", "p50 ms",
              "p99 ms", "max ms");
  std::map<int, int64_t> errors;
  submit.Print("SubmitStudy", seconds, errors);
  watch.Print("WatchStudy", seconds, errors);
  get.Print("GetStudy", seconds, errors);
  list_trials.Print("ListTrials", seconds, errors);
  list_studies.Print("ListStudies", seconds, errors);
  std::printf("studies: %zu submitted, %d finished (%.2f/s); trials finished: %lld (%.1f/s)\n",
              submitted.All().size(), finished, finished / seconds, static_cast<long long>(trials), trials / seconds);
  std::printf("errors by code:");
  for (const auto& [code, n] : errors) std::printf(" %d=%lld", code, static_cast<long long>(n));
  std::printf("%s\n", errors.empty() ? " none" : "");
  return errors.empty() ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vmle-bench-load: concurrent submitters, watchers and simulated workers against the agent"};
  Flags flags;
  app.add_option("--seconds", flags.seconds, "length of the run")->check(CLI::Range(1, 3600))->capture_default_str();
  app.add_option("--submitters", flags.submitters, "submitting threads")->check(CLI::Range(0, 256))->capture_default_str();
  app.add_option("--watchers", flags.watchers, "watching threads")->check(CLI::Range(0, 1024))->capture_default_str();
  app.add_option("--readers", flags.readers, "Get/List threads")->check(CLI::Range(0, 256))->capture_default_str();
  app.add_option("--workers", flags.workers, "simulated workers")->check(CLI::Range(1, 1024))->capture_default_str();
  app.add_option("--studies", flags.studies, "studies submitted at most")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--trials", flags.trials, "trials per study")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--parallelism", flags.parallelism, "trials of a study at once")->check(CLI::Range(1, 256))->capture_default_str();
  app.add_option("--epoch_ms", flags.epoch_ms, "simulated milliseconds per epoch")->check(CLI::Range(0, 60000))->capture_default_str();
  app.add_option("--max_active_studies", flags.max_active_studies, "the agent's limit (0: none)")
      ->check(CLI::Range(0, 100000))->capture_default_str();
  app.add_option("--dir", flags.dir, "memory store directory (default: a fresh temporary one, removed after)");
  CLI11_PARSE(app, argc, argv);
  if (absl::Status s = vmle::log::InitLogging("bench-load", "error"); !s.ok()) return 1;
  return Run(flags);
}
