#include "services/trainer/train/trainer.h"

#include <chrono>
#include <cmath>
#include <random>
#include <string>

#include "services/trainer/data/split.h"
#include "services/trainer/eval/evaluator.h"
#include "services/trainer/model/factory.h"
#include "services/trainer/train/loss.h"
#include "services/trainer/train/optimizer.h"
#include "services/trainer/train/training_set.h"

namespace vmle::trainer {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

AdamSettings OptimizerSettings(const TrainConfig& c) {
  AdamSettings s;
  s.decoupled_weight_decay = c.optimizer == OptimizerKind::kAdamW;
  s.lr = c.lr;
  s.beta1 = c.adam_beta1;
  s.beta2 = c.adam_beta2;
  s.weight_decay = c.weight_decay;
  return s;
}

std::vector<torch::Tensor> Snapshot(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> copy;
  for (const auto& p : params) copy.push_back(p.detach().clone());
  return copy;
}

void Restore(const std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& saved) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) params[i].copy_(saved[i]);
}

// Trains one epoch; returns the mean loss, or an error for a non-finite loss or a
// cancel.
StatusOr<double> TrainEpoch(SequentialRecommender& model, AdamOptimizer& optimizer,
                            const std::vector<TrainBatch>& batches, const TrainConfig& config,
                            const torch::Device& device, const TrainHooks& hooks,
                            EpochReport& report) {
  model.train();
  double loss_sum = 0;
  int64_t loss_weight = 0;
  const auto params = model.parameters();
  // Each batch's loss is a mean over its targets. With balance_targets every target
  // weighs the same in the epoch whatever its batch: length buckets otherwise give the
  // few targets of a batch of short sequences the weight of a batch of long ones.
  int64_t epoch_targets = 0;
  for (const TrainBatch& batch : batches) epoch_targets += batch.num_targets;
  const double mean_targets =
      batches.empty() ? 1.0 : std::max(1.0, static_cast<double>(epoch_targets) / batches.size());
  for (size_t b = 0; b < batches.size(); ++b) {
    if (hooks.cancel != nullptr && hooks.cancel->load()) {
      return CancelledError("training cancelled in epoch " + std::to_string(report.epoch));
    }
    const TrainBatch& batch = batches[b];
    const auto states = model.UserStates(batch.sequences.To(device));
    const auto target_states =
        states.view({-1, states.size(2)}).index_select(0, batch.target_positions.to(device));
    const auto loss = ComputeLoss(config.loss, config.num_negatives, target_states,
                                  batch.targets.to(device), model.OutputEmbeddings(), model.LogitScale());
    const double value = loss.item<double>();
    if (!std::isfinite(value)) {
      return InternalError("non-finite loss (" + std::to_string(value) + ") in epoch " +
                           std::to_string(report.epoch) + ", batch " + std::to_string(b + 1) +
                           "; lower lr or raise grad_clip/weight_decay");
    }
    optimizer.ZeroGrad();
    if (config.balance_targets) {
      (loss * (static_cast<double>(batch.num_targets) / mean_targets)).backward();
    } else {
      loss.backward();
    }
    if (config.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, config.grad_clip);
    optimizer.Step();
    loss_sum += value * batch.num_targets;
    loss_weight += batch.num_targets;
    report.tokens += batch.sequences.items.numel();
    report.attention_pairs += batch.sequences.items.numel() * batch.sequences.length();
    report.targets += batch.num_targets;
  }
  return loss_weight > 0 ? loss_sum / loss_weight : 0.0;
}

StatusOr<TrainResult> TrainOrThrow(const Dataset& dataset, const TrainConfig& input,
                                   const TrainHooks& hooks) {
  TrainConfig config = input;
  config.model.num_items = dataset.num_items;
  TRAINER_RETURN_IF_ERROR(FromAbsl(space::ValidateTrainConfig(config)));
  TRAINER_ASSIGN_OR_RETURN(const torch::Device device, ResolveDevice(config.device));
  if (config.threads > 0) torch::set_num_threads(static_cast<int>(config.threads));
  torch::manual_seed(config.seed);
  std::mt19937_64 rng(config.seed);

  const TrainingSet training(dataset, config.model.max_len, config.train_targets);
  if (training.num_targets() == 0) {
    return FailedPreconditionError("no training targets: every user needs at least 4 items "
                                   "(2 for training, 1 validation, 1 test)");
  }
  const PriorWeights prior_weights = PriorWeightsOf(config);
  std::unique_ptr<ScorePriors> priors;
  if (prior_weights.any()) priors = std::make_unique<ScorePriors>(dataset, prior_weights, hooks.prior_tables);
  Evaluator validation(dataset, EvalSplit::kValidation, config.model.max_len,
                       config.eval_batch_size, priors.get());
  Evaluator test(dataset, EvalSplit::kTest, config.model.max_len, config.eval_batch_size,
                 priors.get());
  if (validation.num_cases() == 0) {
    return FailedPreconditionError("no user has the 3 items evaluation needs");
  }

  auto model = MakeModel(config);
  model->to(device);
  const auto params = model->parameters();
  AdamOptimizer optimizer(params, OptimizerSettings(config));

  TrainResult result;
  for (const auto& p : params) result.num_parameters += p.numel();
  double best = -1;
  // What patience measures against: the best value that beat its predecessor by min_delta.
  double patience_best = -1;
  std::vector<torch::Tensor> best_params = Snapshot(params);
  int64_t since_best = 0;
  const auto start = Clock::now();
  for (int64_t epoch = 1; epoch <= config.max_epochs; ++epoch) {
    EpochReport report;
    report.epoch = epoch;
    const auto epoch_start = Clock::now();
    const auto batches = training.EpochBatches(config.batch_size, rng, config.batching);
    TRAINER_ASSIGN_OR_RETURN(report.train_loss,
                             TrainEpoch(*model, optimizer, batches, config, device, hooks, report));
    report.epoch_seconds = SecondsSince(epoch_start);
    report.samples_per_second = report.targets / std::max(report.epoch_seconds, 1e-9);
    const auto eval_start = Clock::now();
    report.validation = validation.Evaluate(*model, device);
    report.eval_seconds = SecondsSince(eval_start);
    result.epochs.push_back(report);

    const double value = report.validation.Get(config.select_metric);
    if (value > best) {
      best = value;
      result.best_epoch = epoch;
      result.validation = report.validation;
      best_params = Snapshot(params);
    }
    if (value > patience_best + config.early_stop_min_delta * std::abs(patience_best)) {
      patience_best = value;
      since_best = 0;
    } else {
      ++since_best;
    }
    if (hooks.on_epoch && !hooks.on_epoch(report)) {
      result.stopped_by_caller = true;
      break;
    }
    if (config.early_stop_patience > 0 && since_best >= config.early_stop_patience) break;
  }
  result.train_seconds = SecondsSince(start);
  Restore(params, best_params);
  const auto test_start = Clock::now();
  result.test = test.Evaluate(*model, device);
  result.test_eval_seconds = SecondsSince(test_start);
  return result;
}

}  // namespace

PriorWeights PriorWeightsOf(const TrainConfig& c) {
  PriorWeights w;
  w.popularity = c.popularity_prior_weight;
  w.transition = c.transition_prior_weight;
  w.recent_k = c.prior_recent_k;
  w.itemcf = c.itemcf_prior_weight;
  w.itemcf_options.window = c.itemcf_window;
  w.itemcf_options.top_k = c.itemcf_topk;
  w.itemcf_options.norm = c.itemcf_norm == ItemCfNormKind::kCount  ? ItemCfNorm::kCount
                          : c.itemcf_norm == ItemCfNormKind::kNone ? ItemCfNorm::kNone
                                                                   : ItemCfNorm::kSqrt;
  w.rerank_topk = c.rerank_topk;
  w.rerank_popularity = c.rerank_popularity_weight;
  w.rerank_transition = c.rerank_transition_weight;
  w.rerank_itemcf = c.rerank_itemcf_weight;
  // Weights summing to more than 1 are scaled to sum to 1 (train_config.h).
  const double blend = w.popularity + w.transition + w.itemcf;
  if (blend > 1.0) {
    w.popularity /= blend;
    w.transition /= blend;
    w.itemcf /= blend;
  }
  const double rerank = w.rerank_popularity + w.rerank_transition + w.rerank_itemcf;
  if (rerank > 1.0) {
    w.rerank_popularity /= rerank;
    w.rerank_transition /= rerank;
    w.rerank_itemcf /= rerank;
  }
  return w;
}

StatusOr<torch::Device> ResolveDevice(const std::string& name) {
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name.rfind("cuda", 0) != 0) {
    return InvalidArgumentError("parameter 'device': expected cpu or cuda:N, got \"" + name + "\"");
  }
  if (!torch::cuda::is_available()) {
    return FailedPreconditionError("device " + name + " requested but this libtorch sees no "
                                   "CUDA device; use device=cpu");
  }
  try {
    torch::Device device(name);
    const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
    if (device.has_index() && device.index() >= count) {
      return FailedPreconditionError("device " + name + " does not exist (" +
                                     std::to_string(count) + " CUDA devices)");
    }
    return device;
  } catch (const c10::Error&) {
    return InvalidArgumentError("parameter 'device': expected cpu or cuda:N, got \"" + name + "\"");
  }
}

StatusOr<TrainResult> Train(const Dataset& dataset, const TrainConfig& config,
                            const TrainHooks& hooks) {
  try {
    return TrainOrThrow(dataset, config, hooks);
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    if (what.find("out of memory") != std::string::npos ||
        what.find("DefaultCPUAllocator") != std::string::npos) {
      return ResourceExhaustedError("out of memory: " + what);
    }
    return InternalError("libtorch: " + what);
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError("out of memory while training");
  }
}

}  // namespace vmle::trainer
