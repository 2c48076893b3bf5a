// Building blocks of the transformer backbones.
#pragma once

#include <torch/torch.h>

#include "services/trainer/model/dropout.h"
#include "services/trainer/model/sequence_batch.h"
#include "services/trainer/util/configuration.h"

namespace vmle::trainer {

// A learned bias per head and bucketed query-key distance, added to attention logits
// (T5-style buckets: one per distance below kExactDistances, then logarithmically
// wider ones up to max_len). Distances count back from the query (causal attention
// never looks ahead), so the bias does not depend on padding.
class RelativePositionBiasImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kBuckets = 32;
  static constexpr int64_t kExactDistances = 16;

  RelativePositionBiasImpl(int64_t num_heads, int64_t max_len);
  // Returns float [H, Q, T]: bias[h, i, j] for key j and each of the last Q queries i
  // (length <= max_len; queries 0 means all T).
  torch::Tensor forward(int64_t length, int64_t queries = 0);

 private:
  torch::Tensor bucket_of_distance_;  // int64 [max_len], a buffer
  torch::Tensor weight_;              // [kBuckets, H]
};
TORCH_MODULE(RelativePositionBias);

// Attention products of queries q [B, H, Q, d] with keys k [B, H, T, d]: [B, H, Q, T];
// and of weights w [B, H, Q, T] with values v [B, H, T, d]: [B, H, Q, d]. A single
// query (evaluation scores the last position only) is an elementwise product and a
// sum: as a batched matrix product of one row per matrix, the per-matrix overhead
// costs more than the arithmetic.
torch::Tensor QueryKeyProducts(const torch::Tensor& q, const torch::Tensor& k);
torch::Tensor WeightedValues(const torch::Tensor& w, const torch::Tensor& v);

// What the attention of every block of one forward pass shares, computed once per
// batch (sequence_batch.h): the keys each query may see and the in-sequence positions.
// The masks cover the last Q query positions (Q = T unless made for fewer), so
// evaluation, which reads only the last position, builds no [B, T, T] tensor.
struct AttentionContext {
  torch::Tensor allowed;    // bool [B, Q, T]: SegmentAttentionMask's last Q rows
  // Softmax attention: [B, 1, Q, T], 0 where allowed and -inf elsewhere, added to
  // the logits.
  torch::Tensor additive_mask;
  // Pointwise attention: [B, 1, Q, T], 1 / n where allowed (n: the keys the query
  // may see) and 0 elsewhere, multiplied into the weights.
  torch::Tensor averaging_mask;
  torch::Tensor positions;  // int64 [B, T], SequenceBatch::positions

  // The rows of `mask` ([B, 1, Q, T]) for the last `queries` positions.
  static torch::Tensor LastQueries(const torch::Tensor& mask, int64_t queries);
};
enum class AttentionKind { kSoftmax, kPointwise };
// The context of every query position, or with last_queries > 0 of the last
// last_queries positions only (what ForwardLast reads).
AttentionContext MakeAttentionContext(const SequenceBatch& batch, AttentionKind kind,
                                      torch::ScalarType dtype, int64_t last_queries = 0);

// Multi-head causal self-attention within each sequence of a batch, with optional
// rotary positions or relative position bias.
class CausalSelfAttentionImpl : public torch::nn::Module {
 public:
  explicit CausalSelfAttentionImpl(const ModelConfig& config);
  // x: [B, T, D].
  torch::Tensor forward(const torch::Tensor& x, const AttentionContext& context);
  // The output at the last position only, [B, 1, D]: what forward gives there.
  // Outside training (no attention dropout) and without rotary positions it never
  // projects keys and values: the query is folded into the key weights
  // (q.(W_k x_j + b_k) = (W_k^T q).x_j + q.b_k, whose last term the softmax cancels)
  // and the weighted inputs into the value weights (sum_j a_j (W_v x_j + b_v) =
  // W_v (sum_j a_j x_j) + b_v, the weights summing to 1), so a row costs O(D^2 + T D)
  // instead of O(T D^2).
  torch::Tensor ForwardLast(const torch::Tensor& x, const AttentionContext& context);

 private:
  // ForwardLast's folded form (see there).
  torch::Tensor ForwardLastFolded(const torch::Tensor& x, const AttentionContext& context);
  // Attention of queries q [B, H, Tq, Dh] at the last Tq positions over keys and
  // values of every position.
  torch::Tensor Attend(torch::Tensor q, torch::Tensor k, const torch::Tensor& v,
                       const AttentionContext& context);

  int64_t num_heads_;
  int64_t head_dim_;
  bool rope_;
  int64_t max_len_;
  torch::nn::Linear qkv_{nullptr};
  torch::nn::Linear out_{nullptr};
  Dropout attn_dropout_{nullptr};
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
  Dropout dropout_{nullptr};
};
TORCH_MODULE(FeedForward);

// One transformer block, pre- or post-LayerNorm.
class TransformerBlockImpl : public torch::nn::Module {
 public:
  explicit TransformerBlockImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const AttentionContext& context);
  // The output at the last position only, [B, 1, D].
  torch::Tensor ForwardLast(const torch::Tensor& x, const AttentionContext& context);

 private:
  bool pre_norm_;
  CausalSelfAttention attention_{nullptr};
  FeedForward feed_forward_{nullptr};
  torch::nn::LayerNorm norm1_{nullptr};
  torch::nn::LayerNorm norm2_{nullptr};
  Dropout dropout_{nullptr};
};
TORCH_MODULE(TransformerBlock);

// Applies rotary position embeddings to x [B, H, T, Dh] at positions [B, T]
// (SequenceBatch::positions: counted from each sequence's end, so the most recent
// item always has the same rotation, whatever its row or padding).
torch::Tensor ApplyRope(const torch::Tensor& x, const torch::Tensor& positions);

// Causal pooling of hidden states h [B, T, D] into user states per position, within
// each sequence: last (h itself), mean of the sequence's positions up to t, or mean of
// its last k up to t. segments: SequenceBatch::segments.
torch::Tensor CausalPool(const torch::Tensor& h, const torch::Tensor& segments, PoolingKind kind,
                         int64_t k);

}  // namespace vmle::trainer
