// How item sequences are laid out in a batch, the input every backbone reads.
//
// A batch is R rows of T positions. A row holds either one sequence left-padded with
// 0 (the most recent item last), or several whole sequences packed back to back
// (train/training_set.h packs them so that almost no position is padding). Each
// position carries its item, the sequence of its row it belongs to (its segment) and
// its position inside that sequence counted from the sequence's end, so a sequence
// reads the same whatever its row and neighbours: attention never crosses segments,
// positions restart per sequence, and relative distances are in-sequence distances.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace vmle::trainer {

struct SequenceBatch {
  torch::Tensor items;      // int64 [R, T]; 0 = padding
  // int64 [R, T]: which sequence of its row a position belongs to, an id >= 1
  // distinct within the row; 0 = padding. The positions of one sequence are
  // contiguous.
  torch::Tensor segments;
  // int64 [R, T]: max_len - n + i for the i-th item (from 0) of a sequence of n items,
  // so the most recent item of every sequence is at max_len - 1; 0 at padding.
  torch::Tensor positions;

  int64_t rows() const { return items.size(0); }
  int64_t length() const { return items.size(1); }
  SequenceBatch To(const torch::Device& device) const;
};

// The batch of left-padded sequences `items` [R, T] (0 = padding, every row one
// sequence whose items are contiguous at its end), for models of up to max_len.
SequenceBatch LeftPadded(const torch::Tensor& items, int64_t max_len);

// Which keys each query may attend to: allowed[r, i, j] = keys j <= i of the same
// segment, and every position itself (so no softmax row is empty and padding rows
// stay finite). segments: int64 [R, T]; returns bool [R, T, T], or with
// last_queries = Q > 0 its last Q query rows, bool [R, Q, T].
torch::Tensor SegmentAttentionMask(const torch::Tensor& segments, int64_t last_queries = 0);

// Column of the first position of each position's sequence, int64 [R, T]; a padding
// position is its own start.
torch::Tensor SegmentStarts(const torch::Tensor& segments);

}  // namespace vmle::trainer
