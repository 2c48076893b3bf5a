// Building blocks of the transformer backbones.
#pragma once

#include <torch/torch.h>

#include "services/trainer/model/model_config.h"

namespace vmle::trainer {

// Which keys each query may attend to over left-padded sequences: allowed[b, i, j] =
// j <= i and (key j is real or j == i). Every row allows at least itself, so rows of
// padding queries stay finite (no all-masked softmax rows, no NaN).
// key_valid: bool [B, T]; returns bool [B, T, T].
torch::Tensor CausalAttentionMask(const torch::Tensor& key_valid);

// A learned bias per head and bucketed query-key distance, added to attention logits
// (T5-style buckets: one per distance below kExactDistances, then logarithmically
// wider ones up to max_len). Distances count back from the query (causal attention
// never looks ahead), so the bias does not depend on padding.
class RelativePositionBiasImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kBuckets = 32;
  static constexpr int64_t kExactDistances = 16;

  RelativePositionBiasImpl(int64_t num_heads, int64_t max_len);
  // Returns float [H, T, T]: bias[h, i, j] for query i and key j (length <= max_len).
  torch::Tensor forward(int64_t length);

 private:
  torch::Tensor bucket_of_distance_;  // int64 [max_len], a buffer
  torch::Tensor weight_;              // [kBuckets, H]
};
TORCH_MODULE(RelativePositionBias);

// Multi-head causal self-attention over left-padded sequences (CausalAttentionMask),
// with optional rotary positions or relative position bias.
class CausalSelfAttentionImpl : public torch::nn::Module {
 public:
  explicit CausalSelfAttentionImpl(const ModelConfig& config);
  // x: [B, T, D]; key_valid: bool [B, T] (true for real items).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& key_valid);

 private:
  int64_t num_heads_;
  int64_t head_dim_;
  bool rope_;
  int64_t max_len_;
  torch::nn::Linear qkv_{nullptr};
  torch::nn::Linear out_{nullptr};
  torch::nn::Dropout attn_dropout_{nullptr};
  RelativePositionBias relative_bias_{nullptr};  // only for relative_bias positions
};
TORCH_MODULE(CausalSelfAttention);

// Position-wise feed-forward: Linear-GELU-Dropout-Linear, or SwiGLU.
class FeedForwardImpl : public torch::nn::Module {
 public:
  explicit FeedForwardImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  FeedForwardKind kind_;
  torch::nn::Linear in_{nullptr};    // to 2*inner for SwiGLU, inner for GELU
  torch::nn::Linear out_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(FeedForward);

// One transformer block, pre- or post-LayerNorm.
class TransformerBlockImpl : public torch::nn::Module {
 public:
  explicit TransformerBlockImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& key_valid);

 private:
  bool pre_norm_;
  CausalSelfAttention attention_{nullptr};
  FeedForward feed_forward_{nullptr};
  torch::nn::LayerNorm norm1_{nullptr};
  torch::nn::LayerNorm norm2_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(TransformerBlock);

// Applies rotary position embeddings to x [B, H, T, Dh]; positions count from the end
// of the sequence so that the most recent item always has the same position
// (max_len - 1), whatever the padded length T.
torch::Tensor ApplyRope(const torch::Tensor& x, int64_t max_len);

// Position ids [T] for a batch padded to length T: max_len - T, ..., max_len - 1.
torch::Tensor RecencyPositions(int64_t length, int64_t max_len, const torch::Device& device);

// Causal pooling of hidden states h [B, T, D] into user states per position:
// last (h itself), mean of real positions up to t, or mean of the last k real ones.
torch::Tensor CausalPool(const torch::Tensor& h, const torch::Tensor& valid, PoolingKind kind,
                         int64_t k);

}  // namespace vmle::trainer
