// bench/scheduler: the agent's control path at scale, without training. For each
// planner in --planners, with and without an fsync per memory-store write
// (--sync_writes), it starts an embedded cluster (memory service on RocksDB, the agent)
// in a fresh directory, attaches --workers simulated
// workers over gRPC, runs --studies concurrent studies of --trials trials in total,
// and prints one row per planner, fsync mode and report interval:
//   wall time and throughput; worker busy share (simulated training / worker time);
//   idle time while work was queued, per trial (a worker waiting in LeaseTrial for a
//   trial that was already queued); worker-side RPC time per trial (progress reports
//   and completion); the planner's time per trial; every trial accounted for once;
//   LeaseTrial latency p50 / p99 (calls that returned a trial, long-poll waits
//   included), and the same in steady state: without each worker's first lease (at
//   the start every worker waits for every study's first round) and without the
//   trials started once the first study had queued its last (from then on the workers
//   outnumber the work left, and wait for it), idle-while-queued p99 and queue-wait p99 (queued to started) per trial;
//   the agent's CPU per trial (the process's CPU time, which holds the agent and the
//   memory service, less the simulated workers' own threads).
// --memory_delay_ms adds that much latency to every synced write-ahead-log write of the
// memory store (a slow disk; only with fsync on). --progress_interval_ms lists the
// workers' report intervals to run (one row each; 0 reports every epoch, 1000 is
// vmle-worker's default): epochs ending within the interval of a worker's last report
// go together in its next one.
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <utility>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/logging/logging.h"
#include "prometheus/registry.h"
#include "rocksdb/env.h"
#include "services/sim/sim_worker.h"
#include "services/agent/study/internal/time_util.h"
#include "services/embedded/embedded_cluster.h"
#include "services/memory/store/slow_disk.h"

namespace {

absl::Duration ProcessCpuTime() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return absl::DurationFromTimespec(ts);
}

// The q-quantile (0..1) of `values` in milliseconds; 0 when empty.
double QuantileMs(std::vector<absl::Duration> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<size_t>(std::min<double>(values.size() - 1, q * (values.size() - 1) + 0.5));
  return absl::ToDoubleMilliseconds(values[index]);
}

// One row's configuration.
struct RunSpec {
  std::string planner;
  bool sync_writes = true;
  int progress_interval_ms = 0;
  int workers = 0;
  int studies = 0;
  int trials = 0;
  int parallelism = 0;
  int epoch_ms = 0;
  int memory_delay_ms = 0;
  std::string dir;
};

struct Row {
  int trials = 0;
  int accounted = 0;
  double wall = 0;
  double busy_share = 0;
  double idle_queued_ms = 0;
  double rpc_ms = 0;
  double planning_ms = 0;
  double memory_writes = 0;
  double reports_per_write = 0;
  double lease_p50_ms = 0;
  double lease_p99_ms = 0;
  // Steady-state leases: after each worker's first (at the start every worker waits for
  // every study's first round) and of trials started before the first study queued its
  // last trial (from then on workers outnumber the work left and wait for it).
  double steady_lease_p50_ms = 0;
  double steady_lease_p99_ms = 0;
  double idle_queued_p99_ms = 0;
  double queue_wait_p99_ms = 0;
  double agent_cpu_ms = 0;
};

// Memory-store writes: puts, commits and appends.
double MemoryWrites(prometheus::Registry& registry) {
  double writes = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != "vmle_memory_operations_total") continue;
    for (const auto& m : family.metric) {
      for (const auto& label : m.label) {
        if (label.name == "op" && (absl::StartsWith(label.value, "put_") || absl::StartsWith(label.value, "commit_") ||
                                   absl::StartsWith(label.value, "append_"))) {
          writes += m.counter.value;
        }
      }
    }
  }
  return writes;
}

// (samples, sum) of the unlabelled histogram `name` in `registry`; zeros when absent.
std::pair<double, double> HistogramOf(prometheus::Registry& registry, const std::string& name) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name || family.metric.empty()) continue;
    const auto& h = family.metric[0].histogram;
    return {static_cast<double>(h.sample_count), h.sample_sum};
  }
  return {0, 0};
}

Row RunOne(const RunSpec& run) {
  const std::string& planner = run.planner;
  const int trials = run.trials;
  const int studies = run.studies;
  prometheus::Registry registry;
  vmle::embedded::EmbeddedCluster::Options options;
  options.state_dir = run.dir;
  options.sync_writes = run.sync_writes;
  std::unique_ptr<rocksdb::Env> slow_env;
  if (run.memory_delay_ms > 0) {
    slow_env = rocksdb::NewCompositeEnv(
        std::make_shared<vmle::memory::SlowSyncFileSystem>(absl::Milliseconds(run.memory_delay_ms)));
    options.memory_env = slow_env.get();
  }
  options.registry = &registry;
  options.agent.sweep_interval = absl::Milliseconds(100);
  auto cluster = vmle::embedded::EmbeddedCluster::Start(options);
  if (!cluster.ok()) {
    std::fprintf(stderr, "cannot start the cluster: %s\n", std::string(cluster.status().message()).c_str());
    std::exit(1);
  }
  std::vector<std::unique_ptr<vmle::agent::sim::SimWorker>> pool;
  for (int i = 0; i < run.workers; ++i) {
    vmle::agent::sim::SimWorkerOptions w;
    w.worker_id = absl::StrFormat("sim-%d", i);
    w.epoch_time = absl::Milliseconds(run.epoch_ms);
    w.progress_interval = absl::Milliseconds(run.progress_interval_ms);
    w.wait_seconds = 2;
    w.record_leases = true;
    pool.push_back(std::make_unique<vmle::agent::sim::SimWorker>((*cluster)->agent_channel(), w));
  }
  const absl::Time start = absl::Now();
  const absl::Duration cpu_start = ProcessCpuTime();
  std::vector<std::string> ids;
  std::map<std::string, int> spec_trials;  // each study's budget
  for (int s = 0; s < studies; ++s) {
    vmle::v1::SubmitStudyRequest request;
    auto* spec = request.mutable_spec();
    spec->set_name(absl::StrFormat("bench %s %d", planner, s));
    spec->mutable_dataset()->set_format(vmle::v1::DATASET_FORMAT_SYNTHETIC);
    spec->mutable_dataset()->set_name("sim-beauty");
    spec->mutable_dataset()->set_synthetic_seed(s);
    spec->mutable_budget()->set_max_trials(trials / studies + (s < trials % studies ? 1 : 0));
    spec->mutable_budget()->set_parallelism(run.parallelism);
    // Random samples with an lr far too high diverge now and then.
    spec->mutable_budget()->set_max_failed_trials(spec->budget().max_trials());
    spec->mutable_planner()->set_name(planner);
    spec->set_seed(s + 1);
    auto study = (*cluster)->manager().Submit(request);
    if (!study.ok()) {
      std::fprintf(stderr, "submit: %s\n", std::string(study.status().message()).c_str());
      std::exit(1);
    }
    ids.push_back(study->id());
    spec_trials[study->id()] = spec->budget().max_trials();
  }
  for (auto& w : pool) w->Start();
  Row row;
  for (const std::string& id : ids) {
    for (;;) {
      auto study = (*cluster)->manager().GetStudy(id);
      if (study.ok() && study->state() == vmle::v1::STUDY_STATE_SUCCEEDED && study->trials_running() == 0) break;
      if (study.ok() && (study->state() == vmle::v1::STUDY_STATE_FAILED)) {
        std::fprintf(stderr, "study %s failed: %s\n", id.c_str(), study->error().c_str());
        std::exit(1);
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  row.wall = absl::ToDoubleSeconds(absl::Now() - start);
  const absl::Duration cpu = ProcessCpuTime() - cpu_start;
  for (auto& w : pool) w->RequestStop();
  for (auto& w : pool) w->Stop();
  // How long each trial sat in the queue before its (last) lease.
  std::map<std::string, absl::Duration> queue_time;
  std::map<std::string, absl::Time> started_at;
  // When the first study queued its last trial.
  absl::Time drain_from = absl::InfiniteFuture();
  for (const std::string& id : ids) {
    vmle::v1::ListTrialsRequest list;
    list.set_study_id(id);
    list.set_page_size(1000);
    for (;;) {
      auto page = (*cluster)->manager().ListTrials(list);
      if (!page.ok()) break;
      for (const auto& t : page->trials()) {
        started_at[t.id()] = vmle::agent::internal::FromTimestamp(t.started_at());
        if (t.number() == spec_trials[id]) {
          drain_from = std::min(drain_from, vmle::agent::internal::FromTimestamp(t.queued_at()));
        }
        ++row.trials;
        row.accounted += t.status() == vmle::v1::TRIAL_STATUS_SUCCEEDED || t.status() == vmle::v1::TRIAL_STATUS_FAILED;
        queue_time[t.id()] = vmle::agent::internal::FromTimestamp(t.started_at()) -
                             vmle::agent::internal::FromTimestamp(t.queued_at());
      }
      if (page->next_page_token().empty()) break;
      list.set_page_token(page->next_page_token());
    }
  }
  // A LeaseTrial call that waited w for a trial that had been queued for q before it
  // was handed out left its worker idle with work queued for min(w, q).
  absl::Duration busy, rpc, idle_queued, worker_cpu;
  std::vector<absl::Duration> lease_calls, steady_lease_calls, idle_per_lease, queue_waits;
  for (const auto& [id, q] : queue_time) queue_waits.push_back(q);
  for (auto& w : pool) {
    const auto stats = w->stats();
    busy += stats.busy_time;
    rpc += stats.rpc_time;
    worker_cpu += stats.cpu_time;
    for (const auto& lease : stats.leases) {
      lease_calls.push_back(lease.wait);
      auto started = started_at.find(lease.trial_id);
      if (&lease != &stats.leases.front() && started != started_at.end() && started->second < drain_from) {
        steady_lease_calls.push_back(lease.wait);
      }
      auto it = queue_time.find(lease.trial_id);
      if (it == queue_time.end()) continue;
      const absl::Duration idle = std::min(lease.wait, std::max(it->second, absl::ZeroDuration()));
      idle_queued += idle;
      idle_per_lease.push_back(idle);
    }
  }
  row.lease_p50_ms = QuantileMs(lease_calls, 0.5);
  row.lease_p99_ms = QuantileMs(lease_calls, 0.99);
  row.steady_lease_p50_ms = QuantileMs(steady_lease_calls, 0.5);
  row.steady_lease_p99_ms = QuantileMs(steady_lease_calls, 0.99);
  row.idle_queued_p99_ms = QuantileMs(idle_per_lease, 0.99);
  row.queue_wait_p99_ms = QuantileMs(queue_waits, 0.99);
  // The workers' CPU is counted from their start, a little before cpu_start.
  row.agent_cpu_ms = absl::ToDoubleMilliseconds(std::max(cpu - worker_cpu, absl::ZeroDuration())) /
                     std::max(1, row.trials);
  row.busy_share = absl::ToDoubleSeconds(busy) / (run.workers * row.wall);
  row.idle_queued_ms = absl::ToDoubleMilliseconds(idle_queued) / std::max(1, row.trials);
  row.rpc_ms = absl::ToDoubleMilliseconds(rpc) / std::max(1, row.trials);
  row.planning_ms = 1000 * HistogramOf(registry, "vmle_agent_planning_seconds").second / std::max(1, row.trials);
  row.memory_writes = MemoryWrites(registry) / std::max(1, row.trials);
  const auto [progress_writes, reports] = HistogramOf(registry, "vmle_agent_progress_reports_per_write");
  row.reports_per_write = progress_writes == 0 ? 0 : reports / progress_writes;
  (*cluster)->Stop();
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench/scheduler: the agent's overhead with simulated workers"};
  int workers = 32, studies = 4, trials = 1000, parallelism = 8, epoch_ms = 5;
  std::string planners = "random,tpe";
  std::string dir = "/tmp/vmle-bench-scheduler";
  std::string sync_modes = "true,false";
  std::string intervals = "0,1000";
  int memory_delay_ms = 0;
  app.add_option("--workers", workers, "simulated workers")->capture_default_str();
  app.add_option("--studies", studies, "concurrent studies")->capture_default_str();
  app.add_option("--trials", trials, "trials in total, split over the studies")->capture_default_str();
  app.add_option("--parallelism", parallelism, "parallelism of each study")->capture_default_str();
  app.add_option("--epoch_ms", epoch_ms, "simulated milliseconds per epoch")->capture_default_str();
  app.add_option("--planners", planners, "comma-separated planners, one row each")->capture_default_str();
  app.add_option("--dir", dir, "scratch directory (replaced)")->capture_default_str();
  app.add_option("--sync_writes", sync_modes,
                 "memory-store fsync per write: true, false, or both (one row each)")
      ->capture_default_str();
  app.add_option("--memory_delay_ms", memory_delay_ms,
                 "extra latency of every synced write-ahead-log write of the memory store, ms (a slow disk)")
      ->capture_default_str()
      ->check(CLI::Range(0, 60000));
  app.add_option("--progress_interval_ms", intervals,
                 "comma-separated report intervals of the workers, ms (one row each; 0: a report per epoch)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (absl::Status s = vmle::log::InitLogging("bench-scheduler", "error"); !s.ok()) return 1;

  std::printf("%d simulated workers, %d studies x parallelism %d, %d trials, %d ms per simulated epoch, "
              "%d ms extra per synced memory write\n\n",
              workers, studies, parallelism, trials, epoch_ms, memory_delay_ms);
  std::printf("| planner | fsync | report interval ms | trials (accounted) | wall s | trials/s | workers busy | idle while queued "
              "ms/trial | idle while queued p99 ms | queue wait p99 ms | LeaseTrial p50 / p99 ms | steady LeaseTrial p50 / p99 ms | worker RPC "
              "ms/trial | planning ms/trial | agent CPU ms/trial | memory writes/trial | progress reports/write |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::fflush(stdout);
  std::vector<int> interval_values;
  for (const std::string& text : std::vector<std::string>(absl::StrSplit(intervals, ','))) {
    int value = 0;
    if (!absl::SimpleAtoi(text, &value) || value < 0 || value > 60000) {
      std::fprintf(stderr, "--progress_interval_ms: expected milliseconds from 0 to 60000, got %s\n",
                   text.substr(0, 32).c_str());
      return 1;
    }
    interval_values.push_back(value);
  }
  for (const std::string& planner : std::vector<std::string>(absl::StrSplit(planners, ','))) {
    for (const std::string& mode : std::vector<std::string>(absl::StrSplit(sync_modes, ','))) {
      if (mode != "true" && mode != "false") {
        std::fprintf(stderr, "--sync_writes: expected true, false or both, got %s\n", mode.c_str());
        return 1;
      }
      for (const int interval : interval_values) {
        std::filesystem::remove_all(dir);
        const RunSpec spec{planner, mode == "true", interval, workers, studies, trials, parallelism, epoch_ms,
                           memory_delay_ms, dir + "/" + planner};
        const Row r = RunOne(spec);
        std::printf("| %s | %s | %d | %d (%d) | %.1f | %.1f | %.1f%% | %.2f | %.1f | %.1f | %.1f / %.1f | %.1f / %.1f | %.2f | "
                    "%.2f | %.2f | %.1f | %.1f |\n",
                    planner.c_str(), spec.sync_writes ? "on" : "off", interval, r.trials, r.accounted, r.wall,
                    r.trials / r.wall, 100 * r.busy_share, r.idle_queued_ms, r.idle_queued_p99_ms,
                    r.queue_wait_p99_ms, r.lease_p50_ms, r.lease_p99_ms, r.steady_lease_p50_ms, r.steady_lease_p99_ms, r.rpc_ms, r.planning_ms, r.agent_cpu_ms,
                    r.memory_writes, r.reports_per_write);
        std::fflush(stdout);
      }
    }
  }
  std::filesystem::remove_all(dir);
  return 0;
}
