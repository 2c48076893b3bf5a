#include "services/trainer/model/layers.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace vmle::trainer {

AttentionContext MakeAttentionContext(const SequenceBatch& batch, AttentionKind kind,
                                      torch::ScalarType dtype, int64_t last_queries) {
  AttentionContext context;
  context.allowed = SegmentAttentionMask(batch.segments, last_queries);
  context.positions = batch.positions;
  const auto opts = torch::TensorOptions().dtype(dtype).device(batch.items.device());
  if (kind == AttentionKind::kSoftmax) {
    context.additive_mask = torch::zeros(context.allowed.sizes(), opts)
                                .masked_fill_(context.allowed.logical_not(),
                                              -std::numeric_limits<double>::infinity())
                                .unsqueeze(1);
  } else {
    const auto mask = context.allowed.to(dtype);
    context.averaging_mask = (mask / mask.sum(-1, true)).unsqueeze(1);
  }
  return context;
}

torch::Tensor AttentionContext::LastQueries(const torch::Tensor& mask, int64_t queries) {
  return mask.size(2) == queries ? mask : mask.narrow(2, mask.size(2) - queries, queries);
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

torch::Tensor RelativePositionBiasImpl::forward(int64_t length, int64_t queries) {
  if (queries <= 0 || queries > length) queries = length;
  // Module::to(dtype) converts every buffer, this one too: index with int64 again.
  const auto buckets = bucket_of_distance_.to(torch::kLong);
  const auto positions = torch::arange(length, buckets.options());
  const auto distance = (positions.narrow(0, length - queries, queries).unsqueeze(1) - positions.unsqueeze(0))
                            .clamp(0, buckets.size(0) - 1);  // [Q, T], i - j
  return weight_.index_select(0, buckets.index_select(0, distance.reshape(-1)))
      .view({queries, length, -1})
      .permute({2, 0, 1});
}

CausalSelfAttentionImpl::CausalSelfAttentionImpl(const ModelConfig& config)
    : num_heads_(config.num_heads),
      head_dim_(config.hidden_dim / config.num_heads),
      rope_(config.positions == PositionKind::kRope),
      max_len_(config.max_len) {
  qkv_ = register_module("qkv", torch::nn::Linear(config.hidden_dim, 3 * config.hidden_dim));
  out_ = register_module("out", torch::nn::Linear(config.hidden_dim, config.hidden_dim));
  attn_dropout_ = register_module("attn_dropout", Dropout(config.attn_dropout));
  if (UsesRelativeBias(config.positions)) {
    relative_bias_ = register_module("relative_bias", RelativePositionBias(num_heads_, max_len_));
  }
}

torch::Tensor QueryKeyProducts(const torch::Tensor& q, const torch::Tensor& k) {
  if (q.size(2) == 1) return (k * q).sum(-1).unsqueeze(2);
  return torch::matmul(q, k.transpose(-2, -1));
}

torch::Tensor WeightedValues(const torch::Tensor& w, const torch::Tensor& v) {
  if (w.size(2) == 1) return (w.transpose(-2, -1) * v).sum(2, true);
  return torch::matmul(w, v);
}

torch::Tensor CausalSelfAttentionImpl::Attend(torch::Tensor q, torch::Tensor k, const torch::Tensor& v,
                                              const AttentionContext& context) {
  const int64_t length = k.size(2);
  const int64_t queries = q.size(2);
  const int64_t first = length - queries;
  if (rope_) {
    q = ApplyRope(q, context.positions.narrow(1, first, queries));
    k = ApplyRope(k, context.positions);
  }
  // Scaling q ([B, H, T, Dh]) is cheaper than scaling the [B, H, T, T] scores.
  auto scores = QueryKeyProducts(q * (1.0 / std::sqrt(static_cast<double>(head_dim_))), k);
  scores = scores + AttentionContext::LastQueries(context.additive_mask, queries);
  if (relative_bias_) scores = scores + relative_bias_(length, queries).unsqueeze(0);
  auto weights = attn_dropout_(torch::softmax(scores, -1));
  return out_(WeightedValues(weights, v).transpose(1, 2).reshape({q.size(0), queries, -1}));
}

torch::Tensor CausalSelfAttentionImpl::forward(const torch::Tensor& x,
                                               const AttentionContext& context) {
  const int64_t batch = x.size(0);
  const int64_t length = x.size(1);
  // [B, T, 3, H, Dh] -> three [B, H, T, Dh].
  auto qkv = qkv_(x).view({batch, length, 3, num_heads_, head_dim_}).permute({2, 0, 3, 1, 4});
  return Attend(qkv[0], qkv[1], qkv[2], context);
}

torch::Tensor CausalSelfAttentionImpl::ForwardLast(const torch::Tensor& x, const AttentionContext& context) {
  if (!rope_ && !attn_dropout_->active()) return ForwardLastFolded(x, context);
  const int64_t batch = x.size(0);
  const int64_t length = x.size(1);
  const int64_t dim = num_heads_ * head_dim_;
  // Keys and values at every position, the query at the last one only.
  const auto& w = qkv_->weight;
  const auto& b = qkv_->bias;
  auto kv = torch::nn::functional::linear(x, w.narrow(0, dim, 2 * dim), b.narrow(0, dim, 2 * dim))
                .view({batch, length, 2, num_heads_, head_dim_})
                .permute({2, 0, 3, 1, 4});
  auto q = torch::nn::functional::linear(x.narrow(1, length - 1, 1), w.narrow(0, 0, dim), b.narrow(0, 0, dim))
               .view({batch, 1, num_heads_, head_dim_})
               .transpose(1, 2);
  return Attend(q, kv[0], kv[1], context);
}

torch::Tensor CausalSelfAttentionImpl::ForwardLastFolded(const torch::Tensor& x,
                                                          const AttentionContext& context) {
  const int64_t batch = x.size(0);
  const int64_t length = x.size(1);
  const int64_t width = x.size(2);
  const int64_t dim = num_heads_ * head_dim_;
  const auto& w = qkv_->weight;  // [3 * dim, width]: query, key, value rows
  const auto& b = qkv_->bias;
  const auto last = x.select(1, length - 1);  // [B, width]
  // [H, B, Dh]: the last position's query per head, scaled as in Attend.
  const auto q = torch::nn::functional::linear(last, w.narrow(0, 0, dim), b.narrow(0, 0, dim))
                     .mul_(1.0 / std::sqrt(static_cast<double>(head_dim_)))
                     .view({batch, num_heads_, head_dim_})
                     .transpose(0, 1);
  // [B, H, width]: each head's query folded into its key weights.
  const auto folded =
      torch::bmm(q, w.narrow(0, dim, dim).reshape({num_heads_, head_dim_, width})).transpose(0, 1);
  // One head: products and sums rather than batched one-row matrix products
  // (QueryKeyProducts). Several: matrix products, whose [B, H, T] result needs no
  // [B, H, T, width] temporary.
  const bool one_head = num_heads_ == 1;
  auto logits = one_head ? (x * folded).sum(-1).unsqueeze(1)  // [B, H, T]
                         : torch::matmul(folded, x.transpose(1, 2));
  logits = logits + AttentionContext::LastQueries(context.additive_mask, 1).squeeze(2);
  if (relative_bias_) logits = logits + relative_bias_(length, 1).squeeze(1).unsqueeze(0);
  const auto weights = attn_dropout_(torch::softmax(logits, -1));
  // [H, B, width] weighted inputs, then each head's value projection: [B, H, Dh].
  const auto mixed = (one_head ? (weights.transpose(1, 2) * x).sum(1, true) : torch::matmul(weights, x))
                         .transpose(0, 1);
  const auto values =
      torch::bmm(mixed, w.narrow(0, 2 * dim, dim).reshape({num_heads_, head_dim_, width}).transpose(1, 2))
          .transpose(0, 1) +
      b.narrow(0, 2 * dim, dim).view({1, num_heads_, head_dim_});
  return out_(values.reshape({batch, 1, dim}));
}

FeedForwardImpl::FeedForwardImpl(const ModelConfig& config) : kind_(config.feed_forward) {
  const int64_t inner = config.hidden_dim * config.ffn_multiplier;
  const int64_t in_width = kind_ == FeedForwardKind::kSwiglu ? 2 * inner : inner;
  in_ = register_module("in", torch::nn::Linear(config.hidden_dim, in_width));
  out_ = register_module("out", torch::nn::Linear(inner, config.hidden_dim));
  dropout_ = register_module("dropout", Dropout(config.dropout));
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
  dropout_ = register_module("dropout", Dropout(config.dropout));
}

torch::Tensor TransformerBlockImpl::forward(const torch::Tensor& x, const AttentionContext& context) {
  if (pre_norm_) {
    auto h = x + dropout_(attention_(norm1_(x), context));
    return h + dropout_(feed_forward_(norm2_(h)));
  }
  auto h = norm1_(x + dropout_(attention_(x, context)));
  return norm2_(h + dropout_(feed_forward_(h)));
}

torch::Tensor TransformerBlockImpl::ForwardLast(const torch::Tensor& x, const AttentionContext& context) {
  const auto last = x.narrow(1, x.size(1) - 1, 1);
  if (pre_norm_) {
    auto h = last + dropout_(attention_->ForwardLast(norm1_(x), context));
    return h + dropout_(feed_forward_(norm2_(h)));
  }
  auto h = norm1_(last + dropout_(attention_->ForwardLast(x, context)));
  return norm2_(h + dropout_(feed_forward_(h)));
}

torch::Tensor ApplyRope(const torch::Tensor& x, const torch::Tensor& positions) {
  const int64_t dim = x.size(-1);
  const int64_t half = dim / 2;
  const auto opts = torch::TensorOptions().dtype(x.scalar_type()).device(x.device());
  const auto inv_freq =
      torch::pow(10000.0, -torch::arange(0, half, opts) * 2.0 / static_cast<double>(dim));
  // [B, 1, T, half]: one rotation per position, shared by the heads.
  const auto angles = (positions.to(x.scalar_type()).unsqueeze(-1) * inv_freq).unsqueeze(1);
  const auto cos = angles.cos();
  const auto sin = angles.sin();
  auto x1 = x.narrow(-1, 0, half);
  auto x2 = x.narrow(-1, half, half);
  auto rotated = torch::cat({x1 * cos - x2 * sin, x1 * sin + x2 * cos}, -1);
  if (2 * half == dim) return rotated;
  return torch::cat({rotated, x.narrow(-1, 2 * half, dim - 2 * half)}, -1);
}

torch::Tensor CausalPool(const torch::Tensor& h, const torch::Tensor& segments, PoolingKind kind,
                         int64_t k) {
  if (kind == PoolingKind::kLast) return h;
  // sums[:, t + 1] = h[:, 0] + ... + h[:, t]; a window [lo, t] is sums[t + 1] - sums[lo].
  const int64_t length = h.size(1);
  const auto sums = torch::cat({h.new_zeros({h.size(0), 1, h.size(2)}), h.cumsum(1)}, 1);
  auto lo = SegmentStarts(segments);
  const auto columns = torch::arange(length, lo.options()).unsqueeze(0);
  if (kind == PoolingKind::kLastKMean) lo = torch::maximum(lo, columns - (k - 1));
  const auto gather = [&](const torch::Tensor& index) {
    return sums.gather(1, index.unsqueeze(-1).expand({index.size(0), length, h.size(2)}));
  };
  const auto counts = (columns + 1 - lo).to(h.scalar_type()).unsqueeze(-1);
  return (gather(columns.expand_as(lo) + 1) - gather(lo)) / counts;
}

}  // namespace vmle::trainer
