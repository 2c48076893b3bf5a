// Architecture hyperparameters shared by the backbones.
#pragma once

#include <cstdint>
#include <string>

namespace vmle::space {

// Absolute: learned embeddings added to the input. Rope: rotary query/key positions.
// RelativeBias: a learned bias per (head, bucketed distance) added to attention logits.
// kAbsoluteRelative: learned absolute embeddings on the input and a learned relative
// bias in attention, as the reference HSTU code does.
enum class PositionKind { kAbsolute, kRope, kNone, kRelativeBias, kAbsoluteRelative };

inline bool UsesAbsolutePositions(PositionKind p) {
  return p == PositionKind::kAbsolute || p == PositionKind::kAbsoluteRelative;
}
inline bool UsesRelativeBias(PositionKind p) {
  return p == PositionKind::kRelativeBias || p == PositionKind::kAbsoluteRelative;
}
enum class FeedForwardKind { kGelu, kSwiglu };
enum class PoolingKind { kLast, kMean, kLastKMean };

struct ModelConfig {
  // Items are 1..num_items; 0 is padding. Set from the dataset.
  int64_t num_items = 0;
  int64_t hidden_dim = 128;
  int64_t num_blocks = 1;
  int64_t num_heads = 1;
  // Dropout on embeddings, residual branches and feed-forward activations.
  double dropout = 0.2;
  // Dropout on attention weights.
  double attn_dropout = 0.2;
  // Longest history the model reads (the most recent items).
  int64_t max_len = 50;
  // Pre-LayerNorm (x + f(LN(x))) or post-LayerNorm (LN(x + f(x)), the original
  // Transformer's, and on Beauty the better of the two at the reference settings).
  bool pre_norm = false;
  FeedForwardKind feed_forward = FeedForwardKind::kGelu;
  // Hidden size of the feed-forward layer as a multiple of hidden_dim (4, as in the
  // Transformer; 1 in the original SASRec).
  int64_t ffn_multiplier = 4;
  PositionKind positions = PositionKind::kAbsolute;
  // Score items with the input embedding table (tied) or a separate one.
  bool tie_embeddings = true;
  // How the user state at a position is formed from the hidden states up to it.
  PoolingKind pooling = PoolingKind::kLast;
  // For kLastKMean: how many most recent positions are averaged.
  int64_t pooling_k = 3;
  // Score with L2-normalised user states and item embeddings, scaled by
  // 1 / temperature (cosine similarity logits).
  bool embedding_norm = false;
  // Only with embedding_norm: logits are cosine / temperature.
  double temperature = 0.05;
  // HSTU only: per-head width of u and v (linear_dim) and of q and k (attention_dim).
  int64_t linear_dim = 16;
  int64_t attention_dim = 16;
};

}  // namespace vmle::space
