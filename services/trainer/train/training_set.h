// Training examples of a dataset and their batching.
//
// Each user's training portion p (split.h) gives one example: inputs p[:-1] and
// targets p[1:] (all_positions), or only the last target (last_position), both cut
// to the most recent max_len positions. Batches group examples of similar length
// so that little compute goes to padding: every epoch the examples are shuffled,
// stably sorted by length, cut into batches, and the batch order is shuffled.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <random>
#include <vector>

#include "services/trainer/data/dataset.h"
#include "services/trainer/train/train_config.h"

namespace vmle::trainer {

struct TrainBatch {
  torch::Tensor inputs;   // int64 [B, T], left-padded with 0
  torch::Tensor targets;  // int64 [B, T], 0 where there is no target
  int64_t num_targets = 0;
};

class TrainingSet {
 public:
  TrainingSet(const Dataset& dataset, int64_t max_len, TrainTargets targets);

  // The batches of one epoch, in a random order drawn from `rng`. Without
  // `bucket_by_length`, batches are plain random draws padded to their longest
  // sequence (more padding, less homogeneous batches).
  std::vector<TrainBatch> EpochBatches(int64_t batch_size, std::mt19937_64& rng,
                                       bool bucket_by_length = true) const;

  int64_t num_examples() const { return static_cast<int64_t>(inputs_.size()); }
  int64_t num_targets() const { return num_targets_; }

 private:
  std::vector<std::vector<int32_t>> inputs_;
  std::vector<std::vector<int32_t>> targets_;  // same length as inputs_[i]; 0 = none
  int64_t num_targets_ = 0;
};

}  // namespace vmle::trainer
