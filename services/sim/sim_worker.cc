#include "services/sim/sim_worker.h"

#include <time.h>

#include <thread>

#include "absl/strings/match.h"
#include "grpcpp/client_context.h"

namespace vmle::agent::sim {
namespace {

vmle::v1::DatasetProfile ProfileOf(const SimulatedDataset& d) {
  vmle::v1::DatasetProfile p;
  p.set_num_users(d.num_users);
  p.set_num_items(d.num_items);
  p.set_num_interactions(static_cast<int64_t>(d.mean_length * static_cast<double>(d.num_users)));
  p.set_mean_length(d.mean_length);
  p.set_median_length(d.mean_length * 0.8);
  p.set_max_length(static_cast<int64_t>(d.mean_length * 20));
  p.set_density(d.mean_length / static_cast<double>(d.num_items));
  p.set_popularity_gini(d.mean_length < 10 ? 0.6 : 0.4);
  p.set_top1pct_share(d.mean_length < 10 ? 0.12 : 0.2);
  return p;
}

}  // namespace

SimulatedDataset SimulatedDatasetFor(const vmle::v1::DatasetSpec& spec) {
  const std::string& name = spec.name();
  if (absl::StrContains(name, "movielens")) return MovieLensLike(spec.synthetic_seed());
  if (absl::StrContains(name, "related")) return Related(BeautyLike(), name, spec.synthetic_seed());
  SimulatedDataset d = BeautyLike(spec.synthetic_seed());
  d.name = name;
  return d;
}

SimWorker::SimWorker(std::shared_ptr<grpc::Channel> channel, SimWorkerOptions options)
    : stub_(vmle::v1::TrialQueue::NewStub(std::move(channel))), options_(std::move(options)) {}

SimWorker::~SimWorker() { Stop(); }

void SimWorker::Start() { thread_ = std::thread([this] { Loop(); }); }

void SimWorker::RequestStop(bool hand_back) {
  hand_back_.store(hand_back);
  stop_.store(true);
}

void SimWorker::Stop(bool hand_back) {
  RequestStop(hand_back);
  if (thread_.joinable()) thread_.join();
}

SimWorkerStats SimWorker::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

namespace {

absl::Duration ThreadCpuTime() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return absl::DurationFromTimespec(ts);
}

}  // namespace

void SimWorker::Loop() {
  while (!stop_.load()) {
    vmle::v1::LeaseTrialRequest request;
    request.mutable_worker()->set_worker_id(options_.worker_id);
    request.mutable_worker()->set_device(options_.device);
    request.set_wait_seconds(options_.wait_seconds);
    vmle::v1::LeaseTrialResponse response;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(options_.wait_seconds + 10)));
    const absl::Time started = absl::Now();
    const grpc::Status status = stub_->LeaseTrial(&context, request, &response);
    if (!status.ok()) {
      std::this_thread::sleep_for(absl::ToChronoMilliseconds(options_.retry_backoff));
      continue;
    }
    if (!response.has_assignment()) continue;
    {
      absl::MutexLock lock(&mu_);
      stats_.lease_wait += absl::Now() - started;
      if (options_.record_leases) stats_.leases.push_back({response.assignment().trial_id(), absl::Now() - started});
    }
    RunTrial(response.assignment());
  }
  absl::MutexLock lock(&mu_);
  stats_.cpu_time = ThreadCpuTime();
}

void SimWorker::RunTrial(const vmle::v1::TrialAssignment& a) {
  const SimulatedDataset dataset = SimulatedDatasetFor(a.dataset());
  const SimulatedObjective objective(dataset);
  const SimulatedTrial run = objective.Run(a.config(), a.seed());
  absl::Duration rpc;
  auto call = [&](auto method, const auto& request, auto* response) {
    // Retries while the agent is unreachable or slow (the calls are idempotent, as the
    // real worker's are); any other error ends the trial.
    for (;;) {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
      const absl::Time t0 = absl::Now();
      const grpc::Status s = (stub_.get()->*method)(&context, request, response);
      rpc += absl::Now() - t0;
      const bool transient = s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                             s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
      if (!transient || stop_.load()) return s;
      std::this_thread::sleep_for(absl::ToChronoMilliseconds(options_.retry_backoff));
    }
  };
  bool stopped = false;
  int best_epoch = 0;
  double best = -1;
  vmle::v1::MetricValues best_validation;
  absl::Duration busy;
  vmle::v1::ReportProgressRequest progress;  // the epochs not reported yet
  absl::Time last_report = absl::InfinitePast();
  // Sends and clears `request`; false (the trial abandoned) when the call fails.
  auto report = [&](vmle::v1::ReportProgressRequest& request, vmle::v1::ReportProgressResponse* reply) {
    if (!call(&vmle::v1::TrialQueue::Stub::ReportProgress, request, reply).ok()) {
      absl::MutexLock lock(&mu_);
      ++stats_.trials_abandoned;
      return false;
    }
    absl::MutexLock lock(&mu_);
    stats_.epochs += 1 + request.later_epochs_size();
    request.Clear();
    return true;
  };
  for (size_t i = 0; i < run.epochs.size(); ++i) {
    std::this_thread::sleep_for(absl::ToChronoMicroseconds(options_.epoch_time));
    busy += options_.epoch_time;
    if (stop_.load()) {
      bool released = false;
      if (hand_back_.load()) {
        vmle::v1::FailTrialRequest release;
        release.set_trial_id(a.trial_id());
        release.set_lease_id(a.lease_id());
        release.set_error("worker " + options_.worker_id + " shutting down");
        release.set_failure_cause("internal");
        release.set_retryable(true);
        vmle::v1::FailTrialResponse reply;
        released = call(&vmle::v1::TrialQueue::Stub::FailTrial, release, &reply).ok();
      }
      absl::MutexLock lock(&mu_);
      ++(released ? stats_.trials_released : stats_.trials_abandoned);
      return;
    }
    const double value = MetricOf(run.epochs[i].validation(), a.objective_metric());
    if (value > best) {
      best = value;
      best_epoch = static_cast<int>(i) + 1;
      best_validation = run.epochs[i].validation();
    }
    if (!progress.has_epoch()) {
      progress.set_trial_id(a.trial_id());
      progress.set_lease_id(a.lease_id());
      *progress.mutable_epoch() = run.epochs[i];
    } else {
      *progress.add_later_epochs() = run.epochs[i];
    }
    if (i == 0) *progress.mutable_dataset_profile() = ProfileOf(dataset);
    if (i > 0 && absl::Now() - last_report < options_.progress_interval) continue;
    last_report = absl::Now();
    vmle::v1::ReportProgressResponse reply;
    if (!report(progress, &reply)) return;
    if (reply.action() == vmle::v1::ReportProgressResponse::ACTION_STOP) {
      stopped = true;
      break;
    }
  }
  // Epochs still waiting for their interval go with the result (a failure reports
  // them first).
  if (run.diverged && progress.has_epoch()) {
    vmle::v1::ReportProgressResponse reply;
    if (!report(progress, &reply)) return;
  }
  const int unreported = progress.has_epoch() ? 1 + progress.later_epochs_size() : 0;
  grpc::Status s;
  if (run.diverged) {
    vmle::v1::FailTrialRequest fail;
    fail.set_trial_id(a.trial_id());
    fail.set_lease_id(a.lease_id());
    fail.set_error("non-finite loss (simulated divergence)");
    fail.set_failure_cause("nan");
    fail.set_retryable(false);
    vmle::v1::FailTrialResponse reply;
    s = call(&vmle::v1::TrialQueue::Stub::FailTrial, fail, &reply);
  } else {
    vmle::v1::CompleteTrialRequest complete;
    complete.set_trial_id(a.trial_id());
    complete.set_lease_id(a.lease_id());
    const bool natural = !stopped && best_epoch == run.best_epoch;
    complete.set_best_epoch(natural ? run.best_epoch : best_epoch);
    *complete.mutable_validation() = natural ? run.validation : best_validation;
    *complete.mutable_test() = run.test;
    complete.set_train_seconds(absl::ToDoubleSeconds(busy));
    complete.set_stopped_early(stopped);
    if (progress.has_epoch()) {
      *complete.add_final_epochs() = progress.epoch();
      complete.mutable_final_epochs()->MergeFrom(progress.later_epochs());
    }
    vmle::v1::CompleteTrialResponse reply;
    s = call(&vmle::v1::TrialQueue::Stub::CompleteTrial, complete, &reply);
  }
  absl::MutexLock lock(&mu_);
  stats_.rpc_time += rpc;
  stats_.busy_time += busy;
  if (!s.ok()) {
    ++stats_.trials_abandoned;
  } else if (run.diverged) {
    ++stats_.trials_failed;
  } else {
    ++stats_.trials_completed;
    stats_.epochs += unreported;
  }
}

}  // namespace vmle::agent::sim
