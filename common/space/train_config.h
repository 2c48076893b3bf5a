// Everything that defines one training run: the model architecture, the loss, the
// optimiser, early stopping and where it runs. Free of libtorch, so the agent and the
// CLI share it with the trainer. Built from typed settings (value.h: the
// configurations of trials) or from `name=value` text (the `--set` flags of
// vmle-train, parsed by ParseSettings); every error names the offending parameter.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/space/model_config.h"
#include "common/space/value.h"

namespace vmle::space {

enum class Backbone { kSASRec, kHSTU };
enum class LossKind { kSampledSoftmax, kFullSoftmax, kBce };
enum class TrainTargets { kAllPositions, kLastPosition };
enum class OptimizerKind { kAdam, kAdamW };
// How the itemCF prior normalises a neighbour's co-occurrence count
// (services/trainer/eval/priors.h).
enum class ItemCfNormKind { kSqrt, kCount, kNone };
// How an epoch's examples become batches (services/trainer/train/training_set.h).
enum class Batching { kPacked, kRandom, kLengthBuckets };

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
  // packed: random batches with their sequences packed into rows (the examples and
  // order of `random`, at almost no padding); random: random batches, one sequence
  // per row padded to the longest; length_buckets: batches of similar lengths.
  Batching batching = Batching::kPacked;
  // Scale each batch's mean loss by its share of the epoch's targets, so every target
  // weighs the same however batches are formed (length buckets otherwise give the few
  // targets of a batch of short sequences the weight of a batch of long ones).
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
  // Training-split priors blended into the scores at ranking time
  // (services/trainer/eval/priors.h):
  // weights in [0, 1]; 0 disables a prior. The model keeps 1 minus their sum; when
  // they sum to more than 1 they are scaled to sum to 1 (the model then weighs
  // nothing), so every combination in range is a valid configuration.
  double popularity_prior_weight = 0;
  double transition_prior_weight = 0;
  // History items the transition and itemCF priors start from.
  int64_t prior_recent_k = 1;
  // Item co-occurrence (itemCF) prior: its blend weight, the co-occurrence window, the
  // neighbours kept per item and how a neighbour's count is normalised
  // (services/trainer/eval/priors.h).
  double itemcf_prior_weight = 0;
  int64_t itemcf_window = 3;
  int64_t itemcf_topk = 50;
  ItemCfNormKind itemcf_norm = ItemCfNormKind::kSqrt;
  // Re-rank of the model's top rerank_topk items (0: none) by the priors, with weights
  // of their own in [0, 1] (scaled to sum to 1 when they sum to more); applied after
  // any blend.
  int64_t rerank_topk = 0;
  double rerank_popularity_weight = 0;
  double rerank_transition_weight = 0;
  double rerank_itemcf_weight = 0;
  uint64_t seed = 42;
  // Intra-op threads; 0 keeps libtorch's default.
  int64_t threads = 1;
  // "cpu" or "cuda:N"; checked when training starts.
  std::string device = "cpu";
};

// Applies typed settings on top of `base` (defaults when omitted). Integer settings
// take integers (or whole real numbers), real ones numbers, bools bools, enums and
// text settings (device, select_metric) text: their lower-case names. Unknown names,
// values of another type, out-of-range values and inconsistent combinations (e.g.
// hidden_dim not divisible by num_heads) are INVALID_ARGUMENT naming the parameter.
absl::StatusOr<TrainConfig> ApplySettings(const TrainConfig& base, const Settings& settings);

// The typed value of the setting `name` written as `text` (integers in decimal, real
// numbers, true/false/1/0, names as is); INVALID_ARGUMENT naming the parameter when
// the name is unknown or the text does not parse. Ranges are ApplySettings' to check.
absl::StatusOr<Value> ParseSetting(const std::string& name, std::string_view text);
// Every `name=value` pair parsed by ParseSetting, in order.
absl::StatusOr<Settings> ParseSettings(const std::vector<std::pair<std::string, std::string>>& text);
// ParseSettings, then ApplySettings: `name=value` text as vmle-train's --set flags give it.
absl::StatusOr<TrainConfig> ApplyTextSettings(const TrainConfig& base,
                                              const std::vector<std::pair<std::string, std::string>>& text);

// Checks a whole configuration (ranges and combinations); the error names a parameter.
absl::Status ValidateTrainConfig(const TrainConfig& config);

// Every parameter name with its current value, for logs and reports.
std::map<std::string, std::string> DescribeConfig(const TrainConfig& config);

// Names of the metrics select_metric accepts.
const std::vector<std::string>& MetricNames();

}  // namespace vmle::space
