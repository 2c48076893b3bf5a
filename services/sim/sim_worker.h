// A simulated-objective worker: speaks the TrialQueue protocol like vmle-worker
// (lease, progress with stop, complete, fail; its progress reports extend
// the lease, so it needs no separate heartbeats while an epoch and the report
// interval are shorter than the lease) but "trains" with the SimulatedObjective, so
// the agent's whole control path can be
// exercised at scale without libtorch. Used by tests, vmle-sim-worker and
// bench/scheduler.
//
// Datasets: the assignment's dataset name picks the simulated dataset —
// "…movielens…" MovieLensLike, "…related…" Related(BeautyLike) seeded by the
// dataset's synthetic_seed, anything else BeautyLike(synthetic_seed).
//
// Thread-safe: Start/Stop from one thread; stats() from any.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "services/sim/simulated_objective.h"
#include "vmle/v1/trial_queue.grpc.pb.h"

namespace vmle::agent::sim {

struct SimWorkerOptions {
  std::string worker_id = "sim-worker";
  std::string device = "cpu";
  // Simulated training time per epoch.
  absl::Duration epoch_time = absl::Milliseconds(20);
  // Epochs ending sooner than this after the last report go together in the next
  // one, as vmle-worker's WorkerOptions::progress_interval. Zero: a report per epoch.
  absl::Duration progress_interval = absl::ZeroDuration();
  // LeaseTrial long-poll.
  int wait_seconds = 5;
  // Backoff while the agent is unreachable.
  absl::Duration retry_backoff = absl::Milliseconds(200);
  // Keep one LeaseRecord per trial received (for bench/scheduler).
  bool record_leases = false;
};

// How long a LeaseTrial call that returned `trial_id` took.
struct LeaseRecord {
  std::string trial_id;
  absl::Duration wait;
};

struct SimWorkerStats {
  int64_t trials_completed = 0;
  int64_t trials_failed = 0;
  int64_t trials_abandoned = 0;
  // Handed back to the agent by Stop(hand_back).
  int64_t trials_released = 0;
  int64_t epochs = 0;
  // Time inside LeaseTrial calls that returned a trial (waiting for work while the
  // agent had some to hand out shows up here) and in the other RPCs.
  absl::Duration lease_wait;
  absl::Duration rpc_time;
  // Simulated training time.
  absl::Duration busy_time;
  // CPU time of the worker's own thread (its RPCs' client side and the simulation),
  // set when its loop ends (after Stop()).
  absl::Duration cpu_time;
  // With SimWorkerOptions::record_leases.
  std::vector<LeaseRecord> leases;
};

// The simulated dataset an assignment's DatasetSpec names (see above).
SimulatedDataset SimulatedDatasetFor(const vmle::v1::DatasetSpec& spec);

class SimWorker {
 public:
  SimWorker(std::shared_ptr<grpc::Channel> channel, SimWorkerOptions options);
  ~SimWorker();

  // Runs the pull loop on a thread until Stop().
  void Start();
  // Stops after the current RPC. An unfinished trial is abandoned (its lease expires
  // on the agent, as with a lost worker), or with `hand_back` released at once with a
  // retryable FailTrial, as vmle-worker does on SIGTERM.
  void Stop(bool hand_back = false);
  // Stop() without waiting: a pool asks all its workers first, then waits for each.
  void RequestStop(bool hand_back = false);

  SimWorkerStats stats() const;

 private:
  void Loop();
  void RunTrial(const vmle::v1::TrialAssignment& assignment);

  std::unique_ptr<vmle::v1::TrialQueue::Stub> stub_;
  const SimWorkerOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> hand_back_{false};
  std::thread thread_;
  mutable absl::Mutex mu_;
  SimWorkerStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vmle::agent::sim
