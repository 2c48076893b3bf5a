// SASRec (Kang & McAuley, 2018): item and position embeddings, a stack of causal
// transformer blocks, a final LayerNorm; items are scored by dot product with the
// (tied or separate) item embedding table, optionally L2-normalised with a
// temperature.
#pragma once

#include <torch/torch.h>

#include "services/trainer/model/item_embeddings.h"
#include "services/trainer/model/layers.h"
#include "services/trainer/model/recommender.h"
#include "services/trainer/util/configuration.h"

namespace vmle::trainer {

class SASRecImpl : public SequentialRecommender {
 public:
  // `config` must be valid (see ValidateModelConfig).
  explicit SASRecImpl(const ModelConfig& config);

  using SequentialRecommender::UserStates;
  torch::Tensor UserStates(const SequenceBatch& batch) override;
  // With pooling `last`, the last block runs its attention query, feed-forward and
  // the final norm at the last position only.
  torch::Tensor LastStates(const SequenceBatch& batch) override;
  int64_t max_len() const override { return config_.max_len; }
  torch::Tensor OutputEmbeddings() override;
  double LogitScale() const override;

 private:
  ModelConfig config_;
  ItemEmbeddings embeddings_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::LayerNorm final_norm_{nullptr};
};
TORCH_MODULE(SASRec);

}  // namespace vmle::trainer
