// The item side both backbones share: the input item table (row 0, the padding item,
// starts at zero), an optional separate output table, optional learned absolute
// positions, embedding dropout, and the scoring geometry (raw dot products, or
// L2-normalised user states and items with logits scaled by 1 / temperature).
#pragma once

#include <torch/torch.h>

#include "services/trainer/model/dropout.h"
#include "services/trainer/model/sequence_batch.h"
#include "services/trainer/util/configuration.h"

namespace vmle::trainer {

class ItemEmbeddingsImpl : public torch::nn::Module {
 public:
  // `config` must be valid; item rows start as N(0, item_std^2).
  ItemEmbeddingsImpl(const ModelConfig& config, double item_std);

  // Returns float [R, T, D]: item embeddings scaled by sqrt(D), plus absolute
  // positions (SequenceBatch::positions) when configured, after dropout; padding
  // positions are zero.
  torch::Tensor Embed(const SequenceBatch& batch);

  // User states as they are scored: L2-normalised when embedding_norm is set.
  torch::Tensor ScoredStates(const torch::Tensor& states) const;

  // float [num_items + 1, D]: the tied or separate table, L2-normalised when
  // embedding_norm is set.
  torch::Tensor Output();

  // 1 / temperature with embedding_norm, else 1.
  double LogitScale() const;

 private:
  ModelConfig config_;
  torch::nn::Embedding item_{nullptr};
  torch::nn::Embedding output_{nullptr};    // only when not tied
  torch::nn::Embedding position_{nullptr};  // only for absolute positions
  Dropout dropout_{nullptr};
};
TORCH_MODULE(ItemEmbeddings);

}  // namespace vmle::trainer
