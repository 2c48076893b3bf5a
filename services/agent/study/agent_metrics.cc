#include "services/agent/study/agent_metrics.h"

namespace vmle::agent {

AgentMetrics::AgentMetrics(prometheus::Registry& registry)
    : transitions_(prometheus::BuildCounter()
                       .Name("vmle_agent_trial_transitions_total")
                       .Help("Trials entering each status")
                       .Register(registry)),
      studies_(prometheus::BuildGauge().Name("vmle_agent_studies").Help("Studies by state").Register(registry)),
      trials_(prometheus::BuildGauge()
                  .Name("vmle_agent_trials")
                  .Help("Trials of the studies this agent holds, by status")
                  .Register(registry)),
      workers_(prometheus::BuildGauge()
                   .Name("vmle_agent_workers")
                   .Help("Workers seen in the last two lease periods, by state (idle: polling, busy: leased)")
                   .Register(registry)),
      best_(prometheus::BuildGauge()
                .Name("vmle_agent_best_objective")
                .Help("Best validation objective of each running study (its configuration's mean over seeds)")
                .Register(registry)),
      noise_(prometheus::BuildGauge()
                 .Name("vmle_agent_seed_noise_relative")
                 .Help("Seed noise of each running study's objective, sd / mean, once replicates measured it")
                 .Register(registry)),
      queue_length_(prometheus::BuildGauge()
                        .Name("vmle_agent_queue_length")
                        .Help("Trials queued for workers")
                        .Register(registry)
                        .Add({})),
      lease_expiries_(prometheus::BuildCounter()
                          .Name("vmle_agent_lease_expiries_total")
                          .Help("Leases that expired without a heartbeat (worker lost)")
                          .Register(registry)
                          .Add({})),
      trial_duration_(prometheus::BuildHistogram()
                          .Name("vmle_agent_trial_duration_seconds")
                          .Help("Wall time from lease to completion of finished trials")
                          .Register(registry)
                          .Add({}, prometheus::Histogram::BucketBoundaries{1, 5, 15, 30, 60, 120, 300, 600,
                                                                           1200, 3600, 7200})),
      planning_seconds_(prometheus::BuildHistogram()
                            .Name("vmle_agent_planning_seconds")
                            .Help("Time a planner took to propose a round of trials")
                            .Register(registry)
                            .Add({}, prometheus::Histogram::BucketBoundaries{0.0001, 0.001, 0.01, 0.1, 1, 10,
                                                                             60})),
      progress_batch_(prometheus::BuildHistogram()
                          .Name("vmle_agent_progress_reports_per_write")
                          .Help("Progress reports of one study stored by one memory write (group commit)")
                          .Register(registry)
                          .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256})),
      lease_batch_(prometheus::BuildHistogram()
                       .Name("vmle_agent_leases_per_write")
                       .Help("Trials of one study leased to waiting workers by one memory write (group commit)")
                       .Register(registry)
                       .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256})) {}

void AgentMetrics::TrialTransition(const std::string& status) { transitions_.Add({{"status", status}}).Increment(); }
void AgentMetrics::TrialDuration(double seconds) { trial_duration_.Observe(seconds); }
void AgentMetrics::LeaseExpired() { lease_expiries_.Increment(); }
void AgentMetrics::PlanningSeconds(double seconds) { planning_seconds_.Observe(seconds); }
void AgentMetrics::ProgressWrite(size_t reports) { progress_batch_.Observe(static_cast<double>(reports)); }
void AgentMetrics::LeaseWrite(size_t leases) { lease_batch_.Observe(static_cast<double>(leases)); }
void AgentMetrics::SetQueueLength(int queued) { queue_length_.Set(queued); }

void AgentMetrics::SetGauges(prometheus::Family<prometheus::Gauge>& family, const char* label,
                             const std::map<std::string, int>& values,
                             std::map<std::string, prometheus::Gauge*>& cache) {
  for (auto& [key, gauge] : cache) gauge->Set(0);
  for (const auto& [key, value] : values) {
    auto it = cache.find(key);
    if (it == cache.end()) it = cache.emplace(key, &family.Add({{label, key}})).first;
    it->second->Set(value);
  }
}

void AgentMetrics::SetStudies(const std::map<std::string, int>& by_state) {
  SetGauges(studies_, "state", by_state, study_gauges_);
}
void AgentMetrics::SetTrials(const std::map<std::string, int>& by_status) {
  SetGauges(trials_, "status", by_status, trial_gauges_);
}
void AgentMetrics::SetWorkers(const std::map<std::string, int>& by_state) {
  SetGauges(workers_, "state", by_state, worker_gauges_);
}

void AgentMetrics::SetBest(const std::string& study_id, double value) {
  auto it = best_gauges_.find(study_id);
  if (it == best_gauges_.end()) it = best_gauges_.emplace(study_id, &best_.Add({{"study", study_id}})).first;
  it->second->Set(value);
}

void AgentMetrics::SetNoise(const std::string& study_id, double relative_sd) {
  auto it = noise_gauges_.find(study_id);
  if (it == noise_gauges_.end()) it = noise_gauges_.emplace(study_id, &noise_.Add({{"study", study_id}})).first;
  it->second->Set(relative_sd);
}

void AgentMetrics::RemoveBest(const std::string& study_id) {
  if (auto it = best_gauges_.find(study_id); it != best_gauges_.end()) {
    best_.Remove(it->second);
    best_gauges_.erase(it);
  }
  if (auto it = noise_gauges_.find(study_id); it != noise_gauges_.end()) {
    noise_.Remove(it->second);
    noise_gauges_.erase(it);
  }
}

}  // namespace vmle::agent
