#include "services/trainer/worker/worker_metrics.h"

namespace vmle::worker {
namespace {

// From a tiny test dataset (milliseconds) to a large one on a CPU (an hour).
prometheus::Histogram::BucketBoundaries SecondsBuckets() {
  return {0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};
}

}  // namespace

WorkerMetrics::WorkerMetrics(prometheus::Registry& registry)
    : busy_(prometheus::BuildGauge()
                .Name("vmle_worker_busy")
                .Help("1 while the worker runs a trial, 0 while it waits for one")
                .Register(registry)
                .Add({})),
      epoch_seconds_(prometheus::BuildHistogram()
                         .Name("vmle_worker_epoch_seconds")
                         .Help("Training time of one epoch")
                         .Register(registry)
                         .Add({}, SecondsBuckets())),
      eval_seconds_(prometheus::BuildHistogram()
                        .Name("vmle_worker_eval_seconds")
                        .Help("Validation time after one epoch")
                        .Register(registry)
                        .Add({}, SecondsBuckets())),
      samples_per_second_(prometheus::BuildGauge()
                              .Name("vmle_worker_samples_per_second")
                              .Help("Training targets per second in the last epoch")
                              .Register(registry)
                              .Add({})),
      trials_(prometheus::BuildCounter()
                  .Name("vmle_worker_trials_total")
                  .Help("Trials by outcome")
                  .Register(registry)),
      failures_(prometheus::BuildCounter()
                    .Name("vmle_worker_failures_total")
                    .Help("Failed trials by failure cause")
                    .Register(registry)),
      agent_errors_(prometheus::BuildCounter()
                        .Name("vmle_worker_agent_errors_total")
                        .Help("TrialQueue calls to the agent that failed, by method")
                        .Register(registry)) {
  busy_.Set(0);
}

void WorkerMetrics::SetBusy(bool busy) { busy_.Set(busy ? 1 : 0); }

void WorkerMetrics::RecordEpoch(const vmle::v1::EpochMetrics& epoch) {
  epoch_seconds_.Observe(epoch.epoch_seconds());
  eval_seconds_.Observe(epoch.eval_seconds());
  samples_per_second_.Set(epoch.samples_per_second());
}

void WorkerMetrics::RecordTrial(const std::string& outcome) {
  trials_.Add({{"outcome", outcome}}).Increment();
}

void WorkerMetrics::RecordFailure(const std::string& cause) {
  failures_.Add({{"cause", cause}}).Increment();
}

void WorkerMetrics::RecordAgentError(const std::string& rpc) {
  agent_errors_.Add({{"rpc", rpc}}).Increment();
}

}  // namespace vmle::worker
