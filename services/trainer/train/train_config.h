// Everything that defines one training run: the model architecture, the loss, the
// optimiser, early stopping and where it runs. Parsed from `name=value` pairs (the
// `--set` flags of vmle-train and the configurations of trials); every error names
// the offending parameter.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "services/trainer/model/model_config.h"
#include "services/trainer/util/status.h"

namespace vmle::trainer {

enum class Backbone { kSASRec, kHSTU };
enum class LossKind { kSampledSoftmax, kFullSoftmax, kBce };
enum class TrainTargets { kAllPositions, kLastPosition };
enum class OptimizerKind { kAdam, kAdamW };

struct TrainConfig {
  Backbone backbone = Backbone::kSASRec;
  ModelConfig model;
  // Sampled softmax: the target against num_negatives uniform items shared by the
  // batch (accidental hits masked). Full softmax: against every item. BCE: against
  // one uniform negative per target.
  LossKind loss = LossKind::kSampledSoftmax;
  int64_t num_negatives = 500;
  TrainTargets train_targets = TrainTargets::kAllPositions;
  OptimizerKind optimizer = OptimizerKind::kAdam;
  double lr = 3e-4;
  double weight_decay = 1e-5;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  // Global gradient-norm clip; 0 disables it.
  double grad_clip = 5.0;
  int64_t batch_size = 256;
  // Group training sequences of similar length into batches (little padding, much
  // faster); off, batches are random and padded to their longest sequence.
  bool length_buckets = true;
  // Scale each batch's mean loss by its share of the epoch's targets, so every target
  // weighs the same (as in random batches of similar size) however batches are formed.
  bool balance_targets = true;
  int64_t max_epochs = 20;
  // Epochs without improvement of the selection metric before stopping; 0 never stops.
  int64_t early_stop_patience = 3;
  // Patience counts an epoch as an improvement only when it beats the best so far by
  // more than this fraction of it (0: any gain). The kept epoch is the best one
  // regardless, and on one seed the epochs do not depend on max_epochs, so a larger
  // epoch budget never ends below a smaller one.
  double early_stop_min_delta = 0;
  // Validation metric that selects the epoch: recall@{5,10,20}, ndcg@{5,10,20}, mrr.
  std::string select_metric = "recall@10";
  int64_t eval_batch_size = 256;
  // Training-split priors blended into the scores at ranking time (eval/priors.h):
  // weights in [0, 1] with a sum of at most 1; 0 disables a prior.
  double popularity_prior_weight = 0;
  double transition_prior_weight = 0;
  // History items the transition prior starts from.
  int64_t prior_recent_k = 1;
  uint64_t seed = 42;
  // Intra-op threads; 0 keeps libtorch's default.
  int64_t threads = 1;
  // "cpu" or "cuda:N"; checked when training starts.
  std::string device = "cpu";
};

// Applies `name=value` settings on top of `base` (defaults when omitted). Unknown
// names, unparsable values, out-of-range values and inconsistent combinations
// (e.g. hidden_dim not divisible by num_heads) are INVALID_ARGUMENT naming the
// parameter. Booleans accept true/false/1/0; enums their lower-case names.
StatusOr<TrainConfig> ApplySettings(const TrainConfig& base,
                                    const std::vector<std::pair<std::string, std::string>>& settings);

// Checks a whole configuration (ranges and combinations); the error names a parameter.
Status ValidateTrainConfig(const TrainConfig& config);

// Every parameter name with its current value, for logs and reports.
std::map<std::string, std::string> DescribeConfig(const TrainConfig& config);

// Names of the metrics select_metric accepts.
const std::vector<std::string>& MetricNames();

}  // namespace vmle::trainer
