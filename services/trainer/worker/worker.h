// The trainer-worker's pull loop against the agent's TrialQueue
// (protos/vmle/v1/trial_queue.proto).
//
// One trial at a time: LeaseTrial (long poll) → run the trial (trial_runner.h)
// while a heartbeat thread extends the lease every heartbeat_seconds →
// ReportProgress after each epoch (the first report that reaches the agent carries
// the dataset profile; epochs shorter than progress_interval go together in one
// report, and those left at the end of training go with CompleteTrial) →
// CompleteTrial or FailTrial.
//
// The agent steers the trial:
//   * ReportProgress answering ACTION_STOP, or Heartbeat answering stop, ends
//     training after the current epoch; the trial completes with its best epoch
//     so far and stopped_early set.
//   * Heartbeat or ReportProgress answering FAILED_PRECONDITION or NOT_FOUND
//     means the lease is lost (the trial was queued again): training is cancelled
//     and the trial abandoned without completing or failing it.
//
// An unreachable agent (any failed LeaseTrial: UNAVAILABLE while it restarts,
// UNIMPLEMENTED while an older one runs, ...) is retried with capped, jittered
// exponential backoff, for ever; the channel's reconnect backoff is capped the same
// way (MakeAgentChannel), so a restarted agent is found within max_backoff.
// A progress report that fails is not retried at once (training goes on): its epochs
// go with the next report or the result. CompleteTrial and FailTrial are retried
// for report_retry_window.
//
// Shutdown (Stop, which main calls on SIGTERM): the long poll and any backoff
// are interrupted at once; a running trial is cancelled between batches and
// handed back with FailTrial(failure_cause "internal", retryable, "worker ...
// shutting down") so the agent requeues it at once instead of waiting for the
// lease to expire. If that call fails the lease simply expires.
//
// Thread-safety: Start, Stop and the destructor are called by the owner, one at a
// time; the worker's own threads (the loop, and a heartbeat thread per trial) are
// joined by Stop. No thread is ever detached.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/auth/client_channel.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "prometheus/registry.h"
#include "services/trainer/worker/trial_runner.h"
#include "services/trainer/worker/worker_metrics.h"
#include "vmle/v1/trial_queue.grpc.pb.h"

namespace vmle::worker {

struct WorkerOptions {
  // Names this worker to the agent (WorkerInfo.worker_id); required.
  std::string worker_id;
  // The machine's name, reported in WorkerInfo.
  std::string hostname;
  // The build's version, reported in WorkerInfo.
  std::string version;
  // LeaseTrial long-poll time in seconds (the agent allows at most 120).
  int lease_wait_seconds = 30;
  // Heartbeat period when an assignment does not give one.
  absl::Duration default_heartbeat = absl::Seconds(10);
  // Deadline of every call but the long poll (which gets lease_wait_seconds more).
  absl::Duration rpc_timeout = absl::Seconds(10);
  // First wait after a failed call to the agent; doubles with every failure.
  absl::Duration initial_backoff = absl::Milliseconds(200);
  // Longest wait between calls to an unreachable agent (jittered by +-20%).
  absl::Duration max_backoff = absl::Seconds(10);
  // How long CompleteTrial and FailTrial are retried while the agent is unreachable.
  absl::Duration report_retry_window = absl::Minutes(5);
  // An epoch that ends sooner than this after the last progress report waits for the
  // next report, and the epochs of an interval go together: with sub-second epochs a
  // worker sends about one report per interval instead of one per epoch, and the
  // agent's stop can come up to an interval and an epoch later. The first epoch is
  // always sent at once; the epochs left when training ends go with the result (the
  // agent judges them as if reported). Zero reports every epoch.
  absl::Duration progress_interval = absl::Seconds(1);
  // Registry for the metrics of worker_metrics.h; null keeps them private. Not owned;
  // must outlive the worker.
  prometheus::Registry* metrics = nullptr;
  // Bearer token and TLS towards the agent (default: plaintext, no token).
  auth::ClientSecurity agent_security;
};

// A channel to `address` (HOST:PORT) with options.agent_security, whose reconnect
// backoff is capped by options.initial_backoff and max_backoff.
std::shared_ptr<grpc::Channel> MakeAgentChannel(const std::string& address,
                                                const WorkerOptions& options);

class Worker {
 public:
  // `channel` leads to the agent's TrialQueue. `runner` is not owned and must
  // outlive the worker.
  Worker(WorkerOptions options, std::shared_ptr<grpc::ChannelInterface> channel,
         const TrialRunner* runner);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  // Stops and joins (see Stop).
  ~Worker();

  // Starts the pull loop on its own thread. Call once.
  void Start();
  // Interrupts waiting, cancels and hands back a running trial (see the header
  // comment), and joins every thread. Idempotent.
  void Stop();

 private:
  // Flags one trial's threads share.
  struct TrialState {
    // Abandon training: the lease was lost or the worker is stopping.
    std::atomic<bool> cancel{false};
    std::atomic<bool> lease_lost{false};
    // The agent said stop: complete with the best epoch so far.
    std::atomic<bool> stop{false};
    // The members below are used by the training thread only.
    // Whether a report carrying the dataset profile reached the agent.
    bool profile_sent = false;
    // The epochs not reported yet, with the trial and lease ids once one is added.
    vmle::v1::ReportProgressRequest pending;
    // When the last report was sent.
    absl::Time last_report = absl::InfinitePast();
  };

  void Loop();
  void RunTrial(const vmle::v1::TrialAssignment& assignment);
  void HeartbeatLoop(const vmle::v1::TrialAssignment& assignment, TrialState& state);
  // Adds one epoch's metrics to the pending report and sends it when its interval is
  // up; whether training should go on.
  bool ReportProgress(const vmle::v1::TrialAssignment& assignment, const vmle::v1::EpochMetrics& epoch,
                      const vmle::v1::DatasetProfile& profile, TrialState& state);
  // Sends the pending epochs; whether training should go on.
  bool SendProgress(const vmle::v1::TrialAssignment& assignment, TrialState& state);
  // CompleteTrial, FailTrial, or nothing for an abandoned trial.
  void Finish(const vmle::v1::TrialAssignment& assignment, const TrialState& state,
              TrialOutcome outcome);
  // Retries `call` while the agent is unreachable, within report_retry_window.
  void SendFinal(const char* rpc, const vmle::v1::TrialAssignment& assignment,
                 const std::function<grpc::Status(grpc::ClientContext*)>& call);
  void LoseLease(const vmle::v1::TrialAssignment& assignment, TrialState& state, const char* rpc,
                 const grpc::Status& status);

  // One call with a deadline of `timeout`; Stop cancels it when `cancellable`.
  grpc::Status Call(const char* rpc, absl::Duration timeout, bool cancellable,
                    const std::function<grpc::Status(grpc::ClientContext*)>& call);
  // Sleeps `duration` unless Stop is called first; false when stopping.
  bool SleepUnlessStopping(absl::Duration duration);
  bool stopping() const;

  const WorkerOptions options_;
  const std::unique_ptr<vmle::v1::TrialQueue::Stub> stub_;
  const TrialRunner* const runner_;
  vmle::v1::WorkerInfo info_;
  std::unique_ptr<prometheus::Registry> own_registry_;
  std::unique_ptr<WorkerMetrics> metrics_;

  mutable absl::Mutex mu_;
  absl::CondVar wake_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Set when the running trial's training has returned: its heartbeats end.
  bool trial_done_ ABSL_GUARDED_BY(mu_) = false;
  // The running trial, cancelled by Stop; null between trials.
  TrialState* trial_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Calls in flight that Stop cancels.
  absl::flat_hash_set<grpc::ClientContext*> calls_ ABSL_GUARDED_BY(mu_);

  std::thread loop_;
};

}  // namespace vmle::worker
