#include "services/trainer/worker/worker.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging/logging.h"
#include "common/metrics/metrics.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace vmle::worker {
namespace {

using vmle::v1::TrialAssignment;

// Longest the final-report calls of a stopping worker may take.
constexpr absl::Duration kReleaseTimeout = absl::Seconds(5);

// Capped exponential backoff with +-20% jitter, so that many workers do not
// reconnect to a restarted agent in lockstep.
class Backoff {
 public:
  Backoff(absl::Duration initial, absl::Duration max, const std::string& seed)
      : initial_(initial), max_(std::max(initial, max)), rng_(std::hash<std::string>()(seed)) {}

  absl::Duration Next() {
    const absl::Duration base = std::min(max_, initial_ * (int64_t{1} << std::min(attempts_, 20)));
    ++attempts_;
    return base * std::uniform_real_distribution<double>(0.8, 1.2)(rng_);
  }
  int attempts() const { return attempts_; }
  void Reset() { attempts_ = 0; }

 private:
  const absl::Duration initial_;
  const absl::Duration max_;
  std::mt19937_64 rng_;
  int attempts_ = 0;
};

// The agent no longer holds this lease: the trial was queued again.
bool LeaseLost(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
         status.error_code() == grpc::StatusCode::NOT_FOUND;
}

// Errors that may go away when the call is repeated.
bool Transient(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return true;
    default:
      return false;
  }
}

std::string Describe(const grpc::Status& status) {
  return absl::StrCat(std::string(GrpcCodeName(status.error_code())), ": ", status.error_message());
}

}  // namespace

std::shared_ptr<grpc::Channel> MakeAgentChannel(const std::string& address,
                                                const WorkerOptions& options) {
  grpc::ChannelArguments args;
  const int initial_ms = static_cast<int>(absl::ToInt64Milliseconds(options.initial_backoff));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::max(initial_ms, 1));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, std::max(initial_ms, 1));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              std::max(1, static_cast<int>(absl::ToInt64Milliseconds(options.max_backoff))));
  return auth::MakeClientChannel(address, options.agent_security, args);
}

Worker::Worker(WorkerOptions options, std::shared_ptr<grpc::ChannelInterface> channel,
               const TrialRunner* runner)
    : options_(std::move(options)),
      stub_(vmle::v1::TrialQueue::NewStub(std::move(channel))),
      runner_(runner) {
  info_.set_worker_id(options_.worker_id);
  info_.set_device(runner_->options().device);
  info_.set_hostname(options_.hostname);
  info_.set_threads(runner_->options().threads);
  info_.set_version(options_.version);
  prometheus::Registry* registry = options_.metrics;
  if (registry == nullptr) {
    own_registry_ = std::make_unique<prometheus::Registry>();
    registry = own_registry_.get();
  }
  metrics_ = std::make_unique<WorkerMetrics>(*registry);
}

Worker::~Worker() { Stop(); }

void Worker::Start() {
  loop_ = std::thread([this] { Loop(); });
}

void Worker::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (grpc::ClientContext* call : calls_) call->TryCancel();
    if (trial_ != nullptr) trial_->cancel = true;
    wake_.SignalAll();
  }
  if (loop_.joinable()) loop_.join();
}

bool Worker::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

bool Worker::SleepUnlessStopping(absl::Duration duration) {
  const absl::Time until = absl::Now() + duration;
  absl::MutexLock lock(&mu_);
  while (!stopping_ && !wake_.WaitWithDeadline(&mu_, until)) {
  }
  return !stopping_;
}

grpc::Status Worker::Call(const char* rpc, absl::Duration timeout, bool cancellable,
                          const std::function<grpc::Status(grpc::ClientContext*)>& call) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  if (cancellable) {
    absl::MutexLock lock(&mu_);
    if (stopping_) return grpc::Status(grpc::StatusCode::CANCELLED, "worker stopping");
    calls_.insert(&context);
  }
  grpc::Status status = call(&context);
  if (cancellable) {
    absl::MutexLock lock(&mu_);
    calls_.erase(&context);
  }
  // Calls cancelled by Stop are not the agent's errors.
  if (!status.ok() && !(cancellable && stopping())) metrics_->RecordAgentError(rpc);
  return status;
}

void Worker::Loop() {
  log::Info("worker started", {{"worker", options_.worker_id}, {"device", info_.device()}});
  Backoff backoff(options_.initial_backoff, options_.max_backoff, options_.worker_id);
  while (!stopping()) {
    vmle::v1::LeaseTrialRequest request;
    *request.mutable_worker() = info_;
    request.set_wait_seconds(options_.lease_wait_seconds);
    vmle::v1::LeaseTrialResponse response;
    const grpc::Status status =
        Call("LeaseTrial", absl::Seconds(options_.lease_wait_seconds) + options_.rpc_timeout, true,
             [&](grpc::ClientContext* c) { return stub_->LeaseTrial(c, request, &response); });
    if (!status.ok()) {
      if (stopping()) break;
      const absl::Duration wait = backoff.Next();
      log::Warn("agent unreachable; retrying",
                {{"error", Describe(status)},
                 {"attempt", absl::StrCat(backoff.attempts())},
                 {"retry_in", absl::FormatDuration(wait)}});
      SleepUnlessStopping(wait);
      continue;
    }
    if (backoff.attempts() > 0) log::Info("agent reachable again");
    backoff.Reset();
    if (response.has_assignment()) RunTrial(response.assignment());
  }
  log::Info("worker stopped", {{"worker", options_.worker_id}});
}

void Worker::RunTrial(const TrialAssignment& assignment) {
  log::Info("trial leased", {{"study", assignment.study_id()},
                             {"trial", assignment.trial_id()},
                             {"lease", assignment.lease_id()},
                             {"dataset", assignment.dataset().path()}});
  metrics_->SetBusy(true);
  TrialState state;
  {
    absl::MutexLock lock(&mu_);
    state.cancel = stopping_;
    trial_done_ = false;
    trial_ = &state;
  }
  std::thread heartbeat([&] { HeartbeatLoop(assignment, state); });
  TrialCallbacks callbacks;
  callbacks.cancel = &state.cancel;
  callbacks.on_epoch = [&](const vmle::v1::EpochMetrics& epoch, const vmle::v1::DatasetProfile& profile) {
    metrics_->RecordEpoch(epoch);
    const bool go_on = ReportProgress(assignment, epoch, profile, state);
    return go_on && !state.stop;
  };
  TrialOutcome outcome = runner_->Run(assignment, callbacks);
  // Epochs still waiting for their interval go with the result. A failure for good
  // reports them first (its curve is kept); a trial that is abandoned or will be
  // retried starts its curve again, so they are dropped.
  if (state.pending.has_epoch()) {
    if (outcome.kind == TrialOutcome::Kind::kCompleted) {
      auto& final_epochs = *outcome.completion.mutable_final_epochs();
      *final_epochs.Add() = state.pending.epoch();
      final_epochs.MergeFrom(state.pending.later_epochs());
    } else if (outcome.kind == TrialOutcome::Kind::kFailed && !outcome.failure.retryable() && !state.cancel) {
      SendProgress(assignment, state);
    }
    state.pending.Clear();
  }
  {
    absl::MutexLock lock(&mu_);
    trial_done_ = true;
    trial_ = nullptr;
    wake_.SignalAll();
  }
  heartbeat.join();
  Finish(assignment, state, std::move(outcome));
  metrics_->SetBusy(false);
}

void Worker::HeartbeatLoop(const TrialAssignment& assignment, TrialState& state) {
  const absl::Duration period = assignment.heartbeat_seconds() > 0
                                    ? absl::Seconds(assignment.heartbeat_seconds())
                                    : options_.default_heartbeat;
  while (true) {
    {
      const absl::Time until = absl::Now() + period;
      absl::MutexLock lock(&mu_);
      while (!stopping_ && !trial_done_ && !wake_.WaitWithDeadline(&mu_, until)) {
      }
      if (stopping_ || trial_done_) return;
    }
    vmle::v1::HeartbeatRequest request;
    request.set_trial_id(assignment.trial_id());
    request.set_lease_id(assignment.lease_id());
    vmle::v1::HeartbeatResponse response;
    const grpc::Status status =
        Call("Heartbeat", options_.rpc_timeout, true,
             [&](grpc::ClientContext* c) { return stub_->Heartbeat(c, request, &response); });
    if (LeaseLost(status)) return LoseLease(assignment, state, "Heartbeat", status);
    if (!status.ok() && stopping()) return;
    if (!status.ok()) {
      log::Warn("heartbeat failed", {{"trial", assignment.trial_id()}, {"error", Describe(status)}});
    } else if (response.stop() && !state.stop.exchange(true)) {
      log::Info("agent stops the trial (heartbeat)", {{"study", assignment.study_id()},
                                                      {"trial", assignment.trial_id()}});
    }
  }
}

void Worker::LoseLease(const TrialAssignment& assignment, TrialState& state, const char* rpc,
                       const grpc::Status& status) {
  if (!state.lease_lost.exchange(true)) {
    log::Warn("lease lost; abandoning the trial", {{"study", assignment.study_id()},
                                                   {"trial", assignment.trial_id()},
                                                   {"rpc", rpc},
                                                   {"error", Describe(status)}});
  }
  state.cancel = true;
}

bool Worker::ReportProgress(const TrialAssignment& assignment, const vmle::v1::EpochMetrics& epoch,
                            const vmle::v1::DatasetProfile& profile, TrialState& state) {
  vmle::v1::ReportProgressRequest& request = state.pending;
  if (!request.has_epoch()) {
    request.set_trial_id(assignment.trial_id());
    request.set_lease_id(assignment.lease_id());
    *request.mutable_epoch() = epoch;
  } else {
    *request.add_later_epochs() = epoch;
  }
  if (!state.profile_sent) *request.mutable_dataset_profile() = profile;
  if (state.profile_sent && absl::Now() - state.last_report < options_.progress_interval) return true;
  return SendProgress(assignment, state);
}

bool Worker::SendProgress(const TrialAssignment& assignment, TrialState& state) {
  vmle::v1::ReportProgressRequest request;
  request.Swap(&state.pending);
  state.last_report = absl::Now();
  // "3" or "3-7", for the log lines only.
  auto epochs = [&request] {
    const int n = request.later_epochs_size();
    return n == 0 ? absl::StrCat(request.epoch().epoch())
                  : absl::StrCat(request.epoch().epoch(), "-", request.later_epochs(n - 1).epoch());
  };
  vmle::v1::ReportProgressResponse response;
  const grpc::Status status =
      Call("ReportProgress", options_.rpc_timeout, true,
           [&](grpc::ClientContext* c) { return stub_->ReportProgress(c, request, &response); });
  if (LeaseLost(status)) {
    LoseLease(assignment, state, "ReportProgress", status);
    return false;
  }
  if (!status.ok()) {
    if (stopping()) return false;
    // Its epochs go again with the next report (or the result): the stored curve has
    // no gap, and the agent replaces any it already stored.
    log::Warn("progress report failed; its epochs go with the next one",
              {{"trial", assignment.trial_id()}, {"epoch", epochs()}, {"error", Describe(status)}});
    request.Swap(&state.pending);
    return true;
  }
  state.profile_sent = true;
  if (response.action() != vmle::v1::ReportProgressResponse::ACTION_STOP) return true;
  log::Info("agent stops the trial", {{"study", assignment.study_id()},
                                      {"trial", assignment.trial_id()},
                                      {"epoch", epochs()},
                                      {"reason", response.reason()}});
  return false;
}

void Worker::Finish(const TrialAssignment& assignment, const TrialState& state, TrialOutcome outcome) {
  const std::string& trial = assignment.trial_id();
  if (state.lease_lost) {
    metrics_->RecordTrial("abandoned");
    return;
  }
  switch (outcome.kind) {
    case TrialOutcome::Kind::kCompleted: {
      vmle::v1::CompleteTrialRequest& request = outcome.completion;
      request.set_trial_id(trial);
      request.set_lease_id(assignment.lease_id());
      log::Info("trial completed", {{"study", assignment.study_id()},
                                    {"trial", trial},
                                    {"best_epoch", absl::StrCat(request.best_epoch())},
                                    {"stopped_early", request.stopped_early() ? "true" : "false"}});
      // Counted before the report, as failures are: whoever sees the agent's record of the
      // trial can already see it in /metrics.
      metrics_->RecordTrial(request.stopped_early() ? "stopped_early" : "completed");
      vmle::v1::CompleteTrialResponse response;
      SendFinal("CompleteTrial", assignment, [&](grpc::ClientContext* c) {
        return stub_->CompleteTrial(c, request, &response);
      });
      return;
    }
    case TrialOutcome::Kind::kFailed:
      log::Warn("trial failed", {{"study", assignment.study_id()},
                                 {"trial", trial},
                                 {"cause", outcome.failure.failure_cause()},
                                 {"retryable", outcome.failure.retryable() ? "true" : "false"},
                                 {"error", outcome.failure.error()}});
      metrics_->RecordTrial("failed");
      metrics_->RecordFailure(outcome.failure.failure_cause());
      break;
    case TrialOutcome::Kind::kAbandoned:
      log::Info("handing the trial back", {{"study", assignment.study_id()}, {"trial", trial}});
      outcome.failure.set_error(absl::StrCat("worker ", options_.worker_id, " shutting down"));
      outcome.failure.set_failure_cause(kCauseInternal);
      outcome.failure.set_retryable(true);
      metrics_->RecordTrial("released");
      break;
  }
  vmle::v1::FailTrialRequest& request = outcome.failure;
  request.set_trial_id(trial);
  request.set_lease_id(assignment.lease_id());
  vmle::v1::FailTrialResponse response;
  SendFinal("FailTrial", assignment,
            [&](grpc::ClientContext* c) { return stub_->FailTrial(c, request, &response); });
}

void Worker::SendFinal(const char* rpc, const TrialAssignment& assignment,
                       const std::function<grpc::Status(grpc::ClientContext*)>& call) {
  const absl::Time give_up = absl::Now() + options_.report_retry_window;
  Backoff backoff(options_.initial_backoff, options_.max_backoff, options_.worker_id);
  while (true) {
    const absl::Duration timeout =
        stopping() ? std::min(options_.rpc_timeout, kReleaseTimeout) : options_.rpc_timeout;
    const grpc::Status status = Call(rpc, timeout, false, call);
    if (status.ok()) return;
    const bool retry = Transient(status) && !stopping() && absl::Now() < give_up;
    log::Warn(retry ? "report to the agent failed; retrying" : "report to the agent failed",
              {{"trial", assignment.trial_id()}, {"rpc", rpc}, {"error", Describe(status)}});
    if (!retry || !SleepUnlessStopping(backoff.Next())) return;
  }
}

}  // namespace vmle::worker
