#include "services/trainer/worker/trial_runner.h"

#include <exception>
#include <new>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/space/space_proto.h"
#include "common/status/status_macros.h"
#include "services/trainer/train/trainer.h"
#include "services/trainer/util/configuration.h"

namespace vmle::worker {
namespace {

using Kind = TrialOutcome::Kind;

TrialOutcome Failed(const char* cause, bool retryable, std::string error) {
  TrialOutcome outcome;
  outcome.kind = Kind::kFailed;
  outcome.failure.set_failure_cause(cause);
  outcome.failure.set_retryable(retryable);
  outcome.failure.set_error(std::move(error));
  return outcome;
}

TrialOutcome Abandoned() {
  TrialOutcome outcome;
  outcome.kind = Kind::kAbandoned;
  return outcome;
}

bool Raised(const std::atomic<bool>* flag) { return flag != nullptr && flag->load(); }

// A dataset that cannot be loaded fails the trial for good, unless memory ran out
// (another worker may have more).
TrialOutcome DatasetFailure(const absl::Status& status) {
  const std::string error = absl::StrCat("dataset: ", status.message());
  if (status.code() == absl::StatusCode::kResourceExhausted &&
      absl::StrContains(status.message(), "out of memory")) {
    return Failed(kCauseOutOfMemory, true, error);
  }
  return Failed(kCauseBadData, false, error);
}

// Train's errors (trainer.h) by cause.
TrialOutcome TrainingFailure(const trainer::Status& status) {
  const std::string& message = status.message();
  switch (status.code()) {
    case trainer::StatusCode::kInvalidArgument:
      return Failed(kCauseInvalidConfig, false, message);
    case trainer::StatusCode::kFailedPrecondition:
      // A missing device, or a dataset too small to train on.
      if (absl::StartsWith(message, "device")) return Failed(kCauseDevice, true, message);
      return Failed(kCauseBadData, false, message);
    case trainer::StatusCode::kResourceExhausted:
      return Failed(kCauseOutOfMemory, true, message);
    case trainer::StatusCode::kInternal:
      if (absl::StrContains(message, "non-finite loss")) return Failed(kCauseNan, false, message);
      return Failed(kCauseInternal, true, message);
    default:
      return Failed(kCauseInternal, true, status.ToString());
  }
}

vmle::v1::EpochMetrics ToEpochMetrics(const trainer::EpochReport& report) {
  vmle::v1::EpochMetrics epoch;
  epoch.set_epoch(static_cast<int32_t>(report.epoch));
  epoch.set_train_loss(report.train_loss);
  *epoch.mutable_validation() = ToProto(report.validation);
  epoch.set_epoch_seconds(report.epoch_seconds);
  epoch.set_eval_seconds(report.eval_seconds);
  epoch.set_samples_per_second(report.samples_per_second);
  return epoch;
}

TrialOutcome Completed(const trainer::TrainResult& result, const vmle::v1::DatasetProfile& profile) {
  TrialOutcome outcome;
  outcome.kind = Kind::kCompleted;
  vmle::v1::CompleteTrialRequest& c = outcome.completion;
  c.set_best_epoch(static_cast<int32_t>(result.best_epoch));
  *c.mutable_validation() = ToProto(result.validation);
  *c.mutable_test() = ToProto(result.test);
  *c.mutable_dataset_profile() = profile;
  c.set_train_seconds(result.train_seconds);
  c.set_stopped_early(result.stopped_by_caller);
  return outcome;
}

}  // namespace

absl::StatusOr<std::string> SelectMetricName(vmle::v1::Metric metric) {
  switch (metric) {
    case vmle::v1::METRIC_UNSPECIFIED:
    case vmle::v1::METRIC_NDCG_AT_10: return std::string("ndcg@10");
    case vmle::v1::METRIC_RECALL_AT_5: return std::string("recall@5");
    case vmle::v1::METRIC_RECALL_AT_10: return std::string("recall@10");
    case vmle::v1::METRIC_RECALL_AT_20: return std::string("recall@20");
    case vmle::v1::METRIC_NDCG_AT_5: return std::string("ndcg@5");
    case vmle::v1::METRIC_NDCG_AT_20: return std::string("ndcg@20");
    case vmle::v1::METRIC_MRR: return std::string("mrr");
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("objective_metric ", static_cast<int>(metric), " is unknown to this worker"));
  }
}

vmle::v1::MetricValues ToProto(const trainer::RankingMetrics& metrics) {
  vmle::v1::MetricValues values;
  values.set_recall_at_5(metrics.recall_at_5);
  values.set_recall_at_10(metrics.recall_at_10);
  values.set_recall_at_20(metrics.recall_at_20);
  values.set_ndcg_at_5(metrics.ndcg_at_5);
  values.set_ndcg_at_10(metrics.ndcg_at_10);
  values.set_ndcg_at_20(metrics.ndcg_at_20);
  values.set_mrr(metrics.mrr);
  values.set_num_users(metrics.num_users);
  return values;
}

TrialRunner::TrialRunner(TrialRunnerOptions options) : options_(std::move(options)) {}

absl::StatusOr<trainer::TrainConfig> TrialRunner::MakeTrainConfig(
    const vmle::v1::TrialAssignment& assignment) const {
  ASSIGN_OR_RETURN(const space::Backbone backbone, space::ToBackbone(assignment.backbone()));
  ASSIGN_OR_RETURN(std::string metric, SelectMetricName(assignment.objective_metric()));
  absl::StatusOr<space::TrainConfig> config =
      space::ValidateConfiguration(space::DefaultSearchSpace(backbone), space::ToSettings(assignment.config()));
  if (!config.ok()) return config.status();
  config->device = options_.device;
  config->threads = options_.threads;
  config->seed = assignment.seed();
  config->select_metric = std::move(metric);
  RETURN_IF_ERROR(space::ValidateTrainConfig(*config));
  return std::move(*config);
}

absl::Status TrialRunner::CheckDevice() const {
  try {
    const auto device = trainer::ResolveDevice(options_.device);
    return device.ok() ? absl::OkStatus() : trainer::ToAbsl(device.status());
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("checking device ", options_.device, ": ", e.what()));
  }
}

TrialOutcome TrialRunner::Run(const vmle::v1::TrialAssignment& assignment,
                              const TrialCallbacks& callbacks) const {
  try {
    return RunOrThrow(assignment, callbacks);
  } catch (const std::bad_alloc&) {
    return Failed(kCauseOutOfMemory, true, "out of memory running the trial");
  } catch (const std::exception& e) {
    return Failed(kCauseInternal, true, absl::StrCat("unexpected error: ", e.what()));
  } catch (...) {
    return Failed(kCauseInternal, true, "unexpected error of unknown type");
  }
}

TrialOutcome TrialRunner::RunOrThrow(const vmle::v1::TrialAssignment& assignment,
                                     const TrialCallbacks& callbacks) const {
  const auto config = MakeTrainConfig(assignment);
  if (!config.ok()) {
    return Failed(kCauseInvalidConfig, false,
                  absl::StrCat("invalid configuration: ", config.status().message()));
  }
  if (const absl::Status device = CheckDevice(); !device.ok()) {
    return Failed(kCauseDevice, true, std::string(device.message()));
  }
  if (Raised(callbacks.cancel)) return Abandoned();
  const auto loaded = options_.datasets->Get(assignment.dataset());
  if (!loaded.ok()) return DatasetFailure(loaded.status());
  const std::shared_ptr<const LoadedDataset> data = *loaded;

  trainer::TrainHooks hooks;
  hooks.cancel = callbacks.cancel;
  hooks.prior_tables = data->priors.get();
  hooks.on_epoch = [&](const trainer::EpochReport& report) {
    if (Raised(callbacks.cancel)) return false;
    return !callbacks.on_epoch || callbacks.on_epoch(ToEpochMetrics(report), data->profile);
  };
  const TrainFunction& train = options_.train ? options_.train : TrainFunction(trainer::Train);
  const auto result = train(data->dataset, *config, hooks);
  if (Raised(callbacks.cancel)) return Abandoned();
  if (!result.ok()) return TrainingFailure(result.status());
  return Completed(*result, data->profile);
}

}  // namespace vmle::worker
