#include "services/trainer/model/layers.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace vmle::trainer {

torch::Tensor CausalAttentionMask(const torch::Tensor& key_valid) {
  const int64_t length = key_valid.size(1);
  const auto opts = torch::TensorOptions().dtype(torch::kBool).device(key_valid.device());
  const auto causal = torch::ones({length, length}, opts).tril();
  const auto self = torch::eye(length, opts);
  return (causal.unsqueeze(0) & key_valid.unsqueeze(1)) | self.unsqueeze(0);
}

namespace {

// Bucket of each distance 0..max_len-1: exact below kExactDistances, then
// logarithmic up to max_len, capped at the last bucket.
torch::Tensor DistanceBuckets(int64_t max_len) {
  constexpr int64_t kExact = RelativePositionBiasImpl::kExactDistances;
  constexpr int64_t kBuckets = RelativePositionBiasImpl::kBuckets;
  const double span = std::log(static_cast<double>(std::max<int64_t>(max_len, kExact + 1)) / kExact);
  std::vector<int64_t> buckets(max_len);
  for (int64_t d = 0; d < max_len; ++d) {
    if (d < kExact) {
      buckets[d] = d;
      continue;
    }
    const auto wide = static_cast<int64_t>(std::log(static_cast<double>(d) / kExact) / span *
                                           static_cast<double>(kBuckets - kExact));
    buckets[d] = std::min(kExact + wide, kBuckets - 1);
  }
  return torch::tensor(buckets, torch::kLong);
}

// Small random biases, as the HSTU reference initialises its relative bias.
constexpr double kRelativeBiasStd = 0.02;

}  // namespace

RelativePositionBiasImpl::RelativePositionBiasImpl(int64_t num_heads, int64_t max_len) {
  bucket_of_distance_ = register_buffer("bucket_of_distance", DistanceBuckets(max_len));
  weight_ = register_parameter("weight", torch::randn({kBuckets, num_heads}) * kRelativeBiasStd);
}

torch::Tensor RelativePositionBiasImpl::forward(int64_t length) {
  const auto positions = torch::arange(length, bucket_of_distance_.options());
  const auto distance = (positions.unsqueeze(1) - positions.unsqueeze(0))
                            .clamp(0, bucket_of_distance_.size(0) - 1);  // [T, T], i - j
  return weight_.index_select(0, bucket_of_distance_.index_select(0, distance.view(-1)))
      .view({length, length, -1})
      .permute({2, 0, 1});
}

CausalSelfAttentionImpl::CausalSelfAttentionImpl(const ModelConfig& config)
    : num_heads_(config.num_heads),
      head_dim_(config.hidden_dim / config.num_heads),
      rope_(config.positions == PositionKind::kRope),
      max_len_(config.max_len) {
  qkv_ = register_module("qkv", torch::nn::Linear(config.hidden_dim, 3 * config.hidden_dim));
  out_ = register_module("out", torch::nn::Linear(config.hidden_dim, config.hidden_dim));
  attn_dropout_ = register_module("attn_dropout", torch::nn::Dropout(config.attn_dropout));
  if (UsesRelativeBias(config.positions)) {
    relative_bias_ = register_module("relative_bias", RelativePositionBias(num_heads_, max_len_));
  }
}

torch::Tensor CausalSelfAttentionImpl::forward(const torch::Tensor& x,
                                               const torch::Tensor& key_valid) {
  const int64_t batch = x.size(0);
  const int64_t length = x.size(1);
  // [B, T, 3, H, Dh] -> three [B, H, T, Dh].
  auto qkv = qkv_(x).view({batch, length, 3, num_heads_, head_dim_}).permute({2, 0, 3, 1, 4});
  torch::Tensor q = qkv[0];
  torch::Tensor k = qkv[1];
  torch::Tensor v = qkv[2];
  if (rope_) {
    q = ApplyRope(q, max_len_);
    k = ApplyRope(k, max_len_);
  }
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(head_dim_));
  if (relative_bias_) scores = scores + relative_bias_(length).unsqueeze(0);
  const auto allowed = CausalAttentionMask(key_valid);
  scores = scores.masked_fill(allowed.logical_not().unsqueeze(1), -std::numeric_limits<float>::infinity());
  auto weights = attn_dropout_(torch::softmax(scores, -1));
  auto context = torch::matmul(weights, v).transpose(1, 2).reshape({batch, length, -1});
  return out_(context);
}

FeedForwardImpl::FeedForwardImpl(const ModelConfig& config) : kind_(config.feed_forward) {
  const int64_t inner = config.hidden_dim * config.ffn_multiplier;
  const int64_t in_width = kind_ == FeedForwardKind::kSwiglu ? 2 * inner : inner;
  in_ = register_module("in", torch::nn::Linear(config.hidden_dim, in_width));
  out_ = register_module("out", torch::nn::Linear(inner, config.hidden_dim));
  dropout_ = register_module("dropout", torch::nn::Dropout(config.dropout));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = in_(x);
  if (kind_ == FeedForwardKind::kSwiglu) {
    auto parts = h.chunk(2, -1);
    h = torch::silu(parts[0]) * parts[1];
  } else {
    h = torch::gelu(h);
  }
  return out_(dropout_(h));
}

TransformerBlockImpl::TransformerBlockImpl(const ModelConfig& config)
    : pre_norm_(config.pre_norm) {
  attention_ = register_module("attention", CausalSelfAttention(config));
  feed_forward_ = register_module("feed_forward", FeedForward(config));
  norm1_ = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({config.hidden_dim})));
  norm2_ = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({config.hidden_dim})));
  dropout_ = register_module("dropout", torch::nn::Dropout(config.dropout));
}

torch::Tensor TransformerBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& key_valid) {
  if (pre_norm_) {
    auto h = x + dropout_(attention_(norm1_(x), key_valid));
    return h + dropout_(feed_forward_(norm2_(h)));
  }
  auto h = norm1_(x + dropout_(attention_(x, key_valid)));
  return norm2_(h + dropout_(feed_forward_(h)));
}

torch::Tensor RecencyPositions(int64_t length, int64_t max_len, const torch::Device& device) {
  return torch::arange(max_len - length, max_len,
                       torch::TensorOptions().dtype(torch::kLong).device(device));
}

torch::Tensor ApplyRope(const torch::Tensor& x, int64_t max_len) {
  const int64_t length = x.size(-2);
  const int64_t dim = x.size(-1);
  const int64_t half = dim / 2;
  const auto opts = torch::TensorOptions().dtype(x.scalar_type()).device(x.device());
  const auto inv_freq =
      torch::pow(10000.0, -torch::arange(0, half, opts) * 2.0 / static_cast<double>(dim));
  const auto pos = RecencyPositions(length, max_len, x.device()).to(x.scalar_type());
  const auto angles = torch::outer(pos, inv_freq);  // [T, half]
  const auto cos = angles.cos();
  const auto sin = angles.sin();
  auto x1 = x.narrow(-1, 0, half);
  auto x2 = x.narrow(-1, half, half);
  auto rotated = torch::cat({x1 * cos - x2 * sin, x1 * sin + x2 * cos}, -1);
  if (2 * half == dim) return rotated;
  return torch::cat({rotated, x.narrow(-1, 2 * half, dim - 2 * half)}, -1);
}

torch::Tensor CausalPool(const torch::Tensor& h, const torch::Tensor& valid, PoolingKind kind,
                         int64_t k) {
  if (kind == PoolingKind::kLast) return h;
  const auto mask = valid.unsqueeze(-1).to(h.scalar_type());
  auto sums = (h * mask).cumsum(1);
  auto counts = mask.cumsum(1);
  if (kind == PoolingKind::kLastKMean && k < h.size(1)) {
    const int64_t length = h.size(1);
    // Window [t-k+1, t]: subtract the prefix ending at t-k.
    auto zeros_h = torch::zeros_like(sums.narrow(1, 0, k));
    auto zeros_c = torch::zeros_like(counts.narrow(1, 0, k));
    sums = sums - torch::cat({zeros_h, sums.narrow(1, 0, length - k)}, 1);
    counts = counts - torch::cat({zeros_c, counts.narrow(1, 0, length - k)}, 1);
  }
  return sums / counts.clamp_min(1.0);
}

}  // namespace vmle::trainer
