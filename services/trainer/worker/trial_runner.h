// Runs one leased trial: turns the assignment's wire configuration into a training
// configuration, loads the dataset, trains with per-epoch callbacks and classifies
// whatever goes wrong into the failure causes of the TrialQueue protocol.
//
// Configuration: the assignment's values are validated against the backbone's
// default search space (search_space.h, ValidateConfiguration); then the worker
// sets what belongs to it, overriding the configuration: device and threads from
// TrialRunnerOptions, seed from the assignment, select_metric from its
// objective_metric (ndcg@10 when unspecified).
//
// Failures (FailTrialRequest.failure_cause, retryable):
//   invalid_config  the configuration is outside the search space or inconsistent   no
//   bad_data        the dataset cannot be resolved, read or trained on               no
//   nan             training diverged (non-finite loss)                              no
//   out_of_memory   memory ran out loading or training                               yes
//   device          the worker's device is missing                                   yes
//   internal        anything else, including exceptions caught at the boundary       yes
//
// Thread-safety: Run may be called from several threads at once (each trial sets
// libtorch's global thread count, so a worker runs one at a time).
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "common/status/failure_cause.h"
#include "services/trainer/eval/metrics.h"
#include "services/trainer/util/configuration.h"
#include "services/trainer/util/status.h"
#include "services/trainer/worker/dataset_cache.h"
#include "vmle/v1/study.pb.h"
#include "vmle/v1/trial_queue.pb.h"

namespace vmle::trainer {
struct TrainHooks;
struct TrainResult;
}  // namespace vmle::trainer

namespace vmle::worker {

// Values of FailTrialRequest.failure_cause (common/status/failure_cause.h).
using ::vmle::kCauseBadData;
using ::vmle::kCauseDevice;
using ::vmle::kCauseInternal;
using ::vmle::kCauseInvalidConfig;
using ::vmle::kCauseNan;
using ::vmle::kCauseOutOfMemory;

// trainer::Train's signature; tests wrap the real one to inject faults.
using TrainFunction = std::function<trainer::StatusOr<trainer::TrainResult>(
    const trainer::Dataset&, const trainer::TrainConfig&, const trainer::TrainHooks&)>;

struct TrialRunnerOptions {
  // Loads and caches datasets. Not owned; required; must outlive the runner.
  DatasetCache* datasets = nullptr;
  // Device every trial trains on: "cpu" or "cuda:N".
  std::string device = "cpu";
  // Intra-op threads per trial; 0 keeps libtorch's default.
  int threads = 1;
  // The training function; empty means trainer::Train.
  TrainFunction train;
};

// How the runner talks back while a trial trains. Both members may be empty.
struct TrialCallbacks {
  // After each epoch's validation, with the dataset's profile; false stops training
  // and the trial completes with its best epoch so far (stopped_early).
  std::function<bool(const vmle::v1::EpochMetrics& epoch, const vmle::v1::DatasetProfile& profile)>
      on_epoch;
  // Checked between batches and epochs; once true the trial is abandoned. Not owned.
  const std::atomic<bool>* cancel = nullptr;
};

struct TrialOutcome {
  enum class Kind { kCompleted, kFailed, kAbandoned };
  Kind kind = Kind::kFailed;
  // kCompleted: every field but trial_id and lease_id.
  vmle::v1::CompleteTrialRequest completion;
  // kFailed: error, failure_cause and retryable.
  vmle::v1::FailTrialRequest failure;
};

// The trainer's name of a metric ("ndcg@10", "recall@5", "mrr", ...); ndcg@10 for
// METRIC_UNSPECIFIED, INVALID_ARGUMENT for values this build does not know.
absl::StatusOr<std::string> SelectMetricName(vmle::v1::Metric metric);

// The wire form of the trainer's ranking metrics.
vmle::v1::MetricValues ToProto(const trainer::RankingMetrics& metrics);

class TrialRunner {
 public:
  // `options.datasets` must be set.
  explicit TrialRunner(TrialRunnerOptions options);

  // The training configuration of `assignment` (see the header comment).
  // INVALID_ARGUMENT naming the parameter when it is not valid.
  absl::StatusOr<trainer::TrainConfig> MakeTrainConfig(
      const vmle::v1::TrialAssignment& assignment) const;

  // OK when the device of the options exists; FAILED_PRECONDITION naming it when it
  // does not, INVALID_ARGUMENT when it is not "cpu" or "cuda:N".
  absl::Status CheckDevice() const;

  // Runs the trial to completion, failure or abandonment. Never throws.
  TrialOutcome Run(const vmle::v1::TrialAssignment& assignment,
                   const TrialCallbacks& callbacks) const;

  const TrialRunnerOptions& options() const { return options_; }

 private:
  TrialOutcome RunOrThrow(const vmle::v1::TrialAssignment& assignment,
                          const TrialCallbacks& callbacks) const;

  const TrialRunnerOptions options_;
};

}  // namespace vmle::worker
