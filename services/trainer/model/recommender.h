// The contract every backbone (SASRec, HSTU) implements for training and evaluation.
//
// Inputs are item-id sequences, left-padded with 0 to a common length T per batch
// (the most recent item last). A backbone turns them into user states, one per
// position, where the state at position t sees only items at positions <= t (causal).
// Scores of items are dot products of a user state with the rows of
// OutputEmbeddings() (row 0, the padding item, is never a valid prediction).
#pragma once

#include <torch/torch.h>

namespace vmle::trainer {

class SequentialRecommender : public torch::nn::Module {
 public:
  // items: int64 [B, T], 0 = padding, left-padded. Returns float [B, T, D] user
  // states; states at padding positions are finite but meaningless.
  virtual torch::Tensor UserStates(const torch::Tensor& items) = 0;

  // float [num_items + 1, D]: the embeddings items are scored against.
  virtual torch::Tensor OutputEmbeddings() = 0;

  // Scales user-state · item-embedding dot products into logits (1 unless the
  // backbone uses normalised embeddings with a temperature).
  virtual double LogitScale() const { return 1.0; }
};

}  // namespace vmle::trainer
