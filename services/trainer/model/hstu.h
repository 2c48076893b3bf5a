// HSTU (Zhai et al., 2024, "Actions Speak Louder than Words"): a stack of hierarchical
// sequential transduction units over item embeddings. Per block:
//   u, v, q, k = split(SiLU(LN(x) W_uvqk))     u, v: linear_dim per head;
//                                              q, k: attention_dim per head
//   A = SiLU(q k^T + relative bias) / n under the causal mask (no softmax)
//   y = x + W_o(dropout(u * LN(A v)))
// where n is, per query, the number of real (non-padding) keys it attends to. The
// reference code divides by the padded length instead; the LayerNorm over A v makes
// the two the same up to its epsilon (both are one positive factor per query row),
// and a per-query n keeps the attention output independent of padding and max_len.
// Items are scored against the tied (or separate) item table; with embedding_norm,
// as in the reference, user states and items are L2-normalised and logits scaled by
// 1 / temperature.
#pragma once

#include <torch/torch.h>

#include "services/trainer/model/dropout.h"
#include "services/trainer/model/item_embeddings.h"
#include "services/trainer/model/layers.h"
#include "services/trainer/model/recommender.h"
#include "services/trainer/util/configuration.h"

namespace vmle::trainer {

// One HSTU block; positions per config (relative_bias, rope on q and k, or none:
// absolute positions are added to the input by the model).
class HSTUBlockImpl : public torch::nn::Module {
 public:
  explicit HSTUBlockImpl(const ModelConfig& config);
  // x: [B, T, D]; context of kind kPointwise. Returns [B, T, D].
  torch::Tensor forward(const torch::Tensor& x, const AttentionContext& context);
  // The output at the last position only, [B, 1, D]: forward(x).narrow(1, T - 1, 1)
  // (keys and values at every position, one query).
  torch::Tensor ForwardLast(const torch::Tensor& x, const AttentionContext& context);

 private:
  // The output at the last `queries` positions, [B, queries, D].
  torch::Tensor Forward(const torch::Tensor& x, const AttentionContext& context, int64_t queries);
  // The pointwise attention weights [B, H, Q, T] of the last Q queries, already
  // divided by n.
  torch::Tensor Weights(torch::Tensor q, torch::Tensor k, const AttentionContext& context);

  int64_t num_heads_;
  int64_t linear_dim_;
  int64_t attention_dim_;
  bool rope_;
  torch::nn::LayerNorm input_norm_{nullptr};
  torch::nn::Linear uvqk_{nullptr};
  torch::nn::LayerNorm attention_norm_{nullptr};
  torch::nn::Linear out_{nullptr};
  Dropout dropout_{nullptr};
  Dropout attn_dropout_{nullptr};
  RelativePositionBias relative_bias_{nullptr};  // only for relative_bias positions
};
TORCH_MODULE(HSTUBlock);

class HSTUImpl : public SequentialRecommender {
 public:
  // `config` must be valid (ValidateTrainConfig with backbone hstu).
  explicit HSTUImpl(const ModelConfig& config);

  using SequentialRecommender::UserStates;
  torch::Tensor UserStates(const SequenceBatch& batch) override;
  torch::Tensor LastStates(const SequenceBatch& batch) override;
  int64_t max_len() const override { return config_.max_len; }
  torch::Tensor OutputEmbeddings() override;
  double LogitScale() const override;

 private:
  ModelConfig config_;
  ItemEmbeddings embeddings_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
};
TORCH_MODULE(HSTU);

}  // namespace vmle::trainer
