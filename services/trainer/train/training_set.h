// Training examples of a dataset and their batching.
//
// Each user's training portion p (split.h) gives one example: inputs p[:-1] and
// targets p[1:] (all_positions), or only the last target (last_position), both cut
// to the most recent max_len positions.
//
// Every epoch the examples are shuffled, and how they become batches is the
// configuration's `batching` (train_config.h):
//   packed: consecutive runs of batch_size examples of the permutation, exactly the
//     batches of `random`, with each batch's sequences packed whole into rows
//     (first fit, longest first) so that almost no position is padding;
//   random: the same batches, one left-padded sequence per row;
//   length_buckets: the permutation stably sorted by length, cut into batches, and
//     the batch order shuffled (little padding, but batches of homogeneous length).
// Whatever the layout, a batch lists its targets in the order of its examples, so
// packed and random batches compute the same loss on the same examples.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <random>
#include <vector>

#include "services/trainer/data/dataset.h"
#include "services/trainer/model/sequence_batch.h"
#include "services/trainer/util/configuration.h"

namespace vmle::trainer {

struct TrainBatch {
  SequenceBatch sequences;           // [R, T]
  torch::Tensor target_positions;    // int64 [P]: r * T + t of each target, in example order
  torch::Tensor targets;             // int64 [P]: the target items, in example order
  int64_t num_targets = 0;           // P
  int64_t num_examples = 0;
};

class TrainingSet {
 public:
  TrainingSet(const Dataset& dataset, int64_t max_len, TrainTargets targets);

  // The batches of one epoch, drawn from `rng` as the header comment describes.
  std::vector<TrainBatch> EpochBatches(int64_t batch_size, std::mt19937_64& rng,
                                       Batching batching = Batching::kPacked) const;

  int64_t num_examples() const { return static_cast<int64_t>(inputs_.size()); }
  int64_t num_targets() const { return num_targets_; }

 private:
  // One batch of the examples `examples` (indices, in order), laid out as `batching`.
  TrainBatch MakeBatch(const int64_t* examples, int64_t count, bool pack) const;

  int64_t max_len_;
  std::vector<std::vector<int32_t>> inputs_;
  std::vector<std::vector<int32_t>> targets_;  // same length as inputs_[i]; 0 = none
  int64_t num_targets_ = 0;
};

}  // namespace vmle::trainer
