// The trainer-worker's Prometheus metrics:
//   vmle_worker_busy                       1 while a trial runs, else 0
//   vmle_worker_epoch_seconds              training time per epoch (histogram)
//   vmle_worker_eval_seconds               validation time per epoch (histogram)
//   vmle_worker_samples_per_second         training targets per second, last epoch
//   vmle_worker_trials_total{outcome}      trials by outcome: completed, stopped_early,
//                                          failed, abandoned (lease lost), released
//                                          (handed back on shutdown)
//   vmle_worker_failures_total{cause}      failed trials by failure_cause
//   vmle_worker_agent_errors_total{rpc}    TrialQueue calls that failed, by method
// (the dataset cache adds vmle_worker_dataset_cache_{hits,misses}_total).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "vmle/v1/study.pb.h"

namespace vmle::worker {

class WorkerMetrics {
 public:
  // Registers the families in `registry`, which must outlive this object.
  explicit WorkerMetrics(prometheus::Registry& registry);

  void SetBusy(bool busy);
  void RecordEpoch(const vmle::v1::EpochMetrics& epoch);
  // `outcome` is one of the outcome labels above.
  void RecordTrial(const std::string& outcome);
  void RecordFailure(const std::string& cause);
  void RecordAgentError(const std::string& rpc);

 private:
  prometheus::Gauge& busy_;
  prometheus::Histogram& epoch_seconds_;
  prometheus::Histogram& eval_seconds_;
  prometheus::Gauge& samples_per_second_;
  prometheus::Family<prometheus::Counter>& trials_;
  prometheus::Family<prometheus::Counter>& failures_;
  prometheus::Family<prometheus::Counter>& agent_errors_;
};

}  // namespace vmle::worker
