// The agent's Prometheus metrics (vmle_agent_*). Gauges are recomputed from the
// core's state by the StudyManager's sweeper; counters and histograms are updated where things
// happen. Thread-safe (prometheus-cpp metrics are).
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace vmle::agent {

class AgentMetrics {
 public:
  // Registers the families in `registry`, which must outlive this object.
  explicit AgentMetrics(prometheus::Registry& registry);

  // A trial changed status ("queued", "running", "succeeded", "failed", "stopped",
  // "requeued").
  void TrialTransition(const std::string& status);
  void TrialDuration(double seconds);
  void LeaseExpired();
  void PlanningSeconds(double seconds);
  // One memory write stored this many progress reports of a study.
  void ProgressWrite(size_t reports);
  // One memory write leased this many trials of a study.
  void LeaseWrite(size_t leases);
  void SetStudies(const std::map<std::string, int>& by_state);
  void SetTrials(const std::map<std::string, int>& by_status);
  void SetWorkers(const std::map<std::string, int>& by_state);
  void SetQueueLength(int queued);
  // Best objective of a running study; Remove when it ends. The Set*/Best calls
  // must be serialised by the caller (the core calls them under the ledger's lock).
  void SetBest(const std::string& study_id, double value);
  // The relative seed noise of a running study, once replicates measured it.
  void SetNoise(const std::string& study_id, double relative_sd);
  // Removes both gauges of a study.
  void RemoveBest(const std::string& study_id);

 private:
  void SetGauges(prometheus::Family<prometheus::Gauge>& family, const char* label,
                 const std::map<std::string, int>& values, std::map<std::string, prometheus::Gauge*>& cache);

  prometheus::Family<prometheus::Counter>& transitions_;
  prometheus::Family<prometheus::Gauge>& studies_;
  prometheus::Family<prometheus::Gauge>& trials_;
  prometheus::Family<prometheus::Gauge>& workers_;
  prometheus::Family<prometheus::Gauge>& best_;
  prometheus::Family<prometheus::Gauge>& noise_;
  prometheus::Gauge& queue_length_;
  prometheus::Counter& lease_expiries_;
  prometheus::Histogram& trial_duration_;
  prometheus::Histogram& planning_seconds_;
  prometheus::Histogram& progress_batch_;
  prometheus::Histogram& lease_batch_;
  std::map<std::string, prometheus::Gauge*> study_gauges_, trial_gauges_, worker_gauges_, best_gauges_,
      noise_gauges_;
};

}  // namespace vmle::agent
