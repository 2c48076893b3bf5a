// The contract every backbone (SASRec, HSTU) implements for training and evaluation.
//
// Inputs are batches of item-id sequences (sequence_batch.h: left-padded, or several
// packed in one row). A backbone turns them into user states, one per position, where
// the state at a position sees only the items of its own sequence up to it (causal).
// Scores of items are dot products of a user state with the rows of
// OutputEmbeddings() (row 0, the padding item, is never a valid prediction).
#pragma once

#include <torch/torch.h>

#include "services/trainer/model/sequence_batch.h"

namespace vmle::trainer {

class SequentialRecommender : public torch::nn::Module {
 public:
  // Returns float [R, T, D] user states for `batch`; states at padding positions are
  // finite but meaningless. A sequence's states do not depend on its row, its
  // neighbours in the row or padding.
  virtual torch::Tensor UserStates(const SequenceBatch& batch) = 0;

  // items: int64 [B, T], one sequence per row, left-padded with 0.
  torch::Tensor UserStates(const torch::Tensor& items) { return UserStates(LeftPadded(items, max_len())); }

  // float [B, D]: the user state after each row's most recent item, for a batch of
  // left-padded sequences (LeftPadded): the last column of UserStates. Backbones may
  // compute it with less work (evaluation needs nothing else).
  virtual torch::Tensor LastStates(const SequenceBatch& batch) {
    return UserStates(batch).select(1, batch.length() - 1);
  }

  // The longest history the model reads; positions are below it.
  virtual int64_t max_len() const = 0;

  // float [num_items + 1, D]: the embeddings items are scored against.
  virtual torch::Tensor OutputEmbeddings() = 0;

  // Scales user-state · item-embedding dot products into logits (1 unless the
  // backbone uses normalised embeddings with a temperature).
  virtual double LogitScale() const { return 1.0; }
};

}  // namespace vmle::trainer
