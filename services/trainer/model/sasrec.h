// SASRec (Kang & McAuley, 2018): item and position embeddings, a stack of causal
// transformer blocks, a final LayerNorm; items are scored by dot product with the
// (tied or separate) item embedding table.
#pragma once

#include <torch/torch.h>

#include "services/trainer/model/layers.h"
#include "services/trainer/model/model_config.h"
#include "services/trainer/model/recommender.h"

namespace vmle::trainer {

class SASRecImpl : public SequentialRecommender {
 public:
  // `config` must be valid (see ValidateModelConfig).
  explicit SASRecImpl(const ModelConfig& config);

  torch::Tensor UserStates(const torch::Tensor& items) override;
  torch::Tensor OutputEmbeddings() override;

 private:
  ModelConfig config_;
  torch::nn::Embedding item_embedding_{nullptr};
  torch::nn::Embedding output_embedding_{nullptr};  // only when not tied
  torch::nn::Embedding position_embedding_{nullptr};  // only for absolute positions
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::LayerNorm final_norm_{nullptr};
};
TORCH_MODULE(SASRec);

}  // namespace vmle::trainer
