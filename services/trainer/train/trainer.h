// Trains one configuration on one dataset: per-epoch validation, early stopping
// with patience on the selection metric, restore of the best epoch, then the test
// metrics of that epoch.
//
// Errors (never exceptions): INVALID_ARGUMENT for a bad configuration,
// FAILED_PRECONDITION for a device that is not there, CANCELLED when the cancel
// flag is raised, INTERNAL "non-finite loss" when training diverges
// (with the epoch and batch), RESOURCE_EXHAUSTED when memory runs out.
#pragma once

#include <torch/torch.h>

#include <atomic>
#include <functional>
#include <vector>

#include "services/trainer/data/dataset.h"
#include "services/trainer/eval/metrics.h"
#include "services/trainer/eval/priors.h"
#include "services/trainer/util/configuration.h"
#include "services/trainer/util/status.h"

namespace vmle::trainer {

struct EpochReport {
  int64_t epoch = 0;  // 1-based
  double train_loss = 0;
  RankingMetrics validation;
  double epoch_seconds = 0;  // training only
  double eval_seconds = 0;   // validation
  double samples_per_second = 0;  // target positions trained per second
  // Work done, for throughput figures: padded tokens, attention pairs, targets.
  int64_t tokens = 0;
  int64_t attention_pairs = 0;
  int64_t targets = 0;
};

struct TrainResult {
  int64_t best_epoch = 0;
  RankingMetrics validation;  // of the best epoch
  RankingMetrics test;        // of the best epoch
  std::vector<EpochReport> epochs;
  double train_seconds = 0;   // all epochs, training and validation
  double test_eval_seconds = 0;
  // True when on_epoch asked to stop before early stopping or max_epochs.
  bool stopped_by_caller = false;
  int64_t num_parameters = 0;
};

struct TrainHooks {
  // After each epoch's validation; return false to stop (the best epoch so far is
  // kept and tested).
  std::function<bool(const EpochReport&)> on_epoch;
  // Checked between batches; when it becomes true, Train returns CANCELLED.
  const std::atomic<bool>* cancel = nullptr;
  // The prior tables of the dataset being trained on, kept across runs (the worker's
  // dataset cache); null: computed for this run when the configuration uses priors.
  PriorTables* prior_tables = nullptr;
};

// The prior settings of a configuration.
PriorWeights PriorWeightsOf(const TrainConfig& config);

StatusOr<TrainResult> Train(const Dataset& dataset, const TrainConfig& config,
                            const TrainHooks& hooks = {});

// Resolves "cpu" / "cuda:N" and checks the device exists.
StatusOr<torch::Device> ResolveDevice(const std::string& name);

}  // namespace vmle::trainer
