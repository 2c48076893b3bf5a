#include "services/trainer/model/hstu.h"

namespace vmle::trainer {
namespace {

// Initialisation and LayerNorm epsilon of the reference implementation: item
// embeddings and the u/v/q/k projection N(0, 0.02^2), W_o Xavier-uniform.
constexpr double kItemEmbeddingStd = 0.02;
constexpr double kProjectionStd = 0.02;
constexpr double kNormEpsilon = 1e-6;

torch::nn::LayerNorm Norm(int64_t width) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({width}).eps(kNormEpsilon));
}

}  // namespace

HSTUBlockImpl::HSTUBlockImpl(const ModelConfig& config)
    : num_heads_(config.num_heads),
      linear_dim_(config.linear_dim),
      attention_dim_(config.attention_dim),
      rope_(config.positions == PositionKind::kRope) {
  const int64_t uv = linear_dim_ * num_heads_;
  const int64_t qk = attention_dim_ * num_heads_;
  input_norm_ = register_module("input_norm", Norm(config.hidden_dim));
  uvqk_ = register_module(
      "uvqk", torch::nn::Linear(torch::nn::LinearOptions(config.hidden_dim, 2 * uv + 2 * qk).bias(false)));
  torch::nn::init::normal_(uvqk_->weight, 0.0, kProjectionStd);
  attention_norm_ = register_module("attention_norm", Norm(uv));
  out_ = register_module("out", torch::nn::Linear(uv, config.hidden_dim));
  torch::nn::init::xavier_uniform_(out_->weight);
  dropout_ = register_module("dropout", Dropout(config.dropout));
  attn_dropout_ = register_module("attn_dropout", Dropout(config.attn_dropout));
  if (UsesRelativeBias(config.positions)) {
    relative_bias_ = register_module("relative_bias", RelativePositionBias(num_heads_, config.max_len));
  }
}

torch::Tensor HSTUBlockImpl::Weights(torch::Tensor q, torch::Tensor k, const AttentionContext& context) {
  const int64_t length = k.size(2);
  const int64_t queries = q.size(2);
  const int64_t first = length - queries;
  if (rope_) {
    q = ApplyRope(q, context.positions.narrow(1, first, queries));
    k = ApplyRope(k, context.positions);
  }
  auto logits = QueryKeyProducts(q, k);  // [B, H, Q, T]
  if (relative_bias_) logits = logits + relative_bias_(length, queries).unsqueeze(0);
  return attn_dropout_(torch::silu(logits) * AttentionContext::LastQueries(context.averaging_mask, queries));
}

torch::Tensor HSTUBlockImpl::forward(const torch::Tensor& x, const AttentionContext& context) {
  return Forward(x, context, x.size(1));
}

torch::Tensor HSTUBlockImpl::ForwardLast(const torch::Tensor& x, const AttentionContext& context) {
  return Forward(x, context, 1);
}

torch::Tensor HSTUBlockImpl::Forward(const torch::Tensor& x, const AttentionContext& context, int64_t queries) {
  const int64_t batch = x.size(0);
  const int64_t length = x.size(1);
  const int64_t first = length - queries;
  const int64_t uv = linear_dim_ * num_heads_;
  const int64_t qk = attention_dim_ * num_heads_;
  auto last = [&](const torch::Tensor& t) { return t.narrow(1, first, queries); };
  const auto normed = input_norm_(x);
  // u and q are needed at the query positions only, v and k at every position: with
  // fewer queries than positions (evaluation) only v and k are projected everywhere.
  torch::Tensor u, v, q, k;
  if (queries == length) {
    const auto parts = torch::silu(uvqk_(normed)).split_with_sizes({uv, uv, qk, qk}, -1);
    u = parts[0], v = parts[1], q = parts[2], k = parts[3];
  } else {
    const auto& w = uvqk_->weight;  // rows: u, v, q, k
    const auto vk_weight = torch::cat({w.narrow(0, uv, uv), w.narrow(0, 2 * uv + qk, qk)});
    const auto uq_weight = torch::cat({w.narrow(0, 0, uv), w.narrow(0, 2 * uv, qk)});
    const auto vk = torch::silu(torch::nn::functional::linear(normed, vk_weight)).split_with_sizes({uv, qk}, -1);
    const auto uq = torch::silu(torch::nn::functional::linear(last(normed), uq_weight)).split_with_sizes({uv, qk}, -1);
    u = uq[0], q = uq[1], v = vk[0], k = vk[1];
  }
  // [B, T, H*d] -> [B, H, T, d]
  auto heads = [&](const torch::Tensor& t, int64_t dim) {
    return t.reshape({batch, t.size(1), num_heads_, dim}).transpose(1, 2);
  };
  // u and q now hold the query positions only.
  const auto weights = Weights(heads(q, attention_dim_), heads(k, attention_dim_), context);
  const auto attended = WeightedValues(weights, heads(v, linear_dim_))
                            .transpose(1, 2)
                            .reshape({batch, queries, uv});
  return last(x) + out_(dropout_(u * attention_norm_(attended)));
}

HSTUImpl::HSTUImpl(const ModelConfig& config) : config_(config) {
  embeddings_ = register_module("embeddings", ItemEmbeddings(config, kItemEmbeddingStd));
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.num_blocks; ++i) blocks_->push_back(HSTUBlock(config));
}

torch::Tensor HSTUImpl::UserStates(const SequenceBatch& batch) {
  auto x = embeddings_->Embed(batch);
  const auto context = MakeAttentionContext(batch, AttentionKind::kPointwise, x.scalar_type());
  const auto keep = batch.items.ne(0).unsqueeze(-1).to(x.scalar_type());
  for (const auto& block : *blocks_) {
    x = block->as<HSTUBlock>()->forward(x, context) * keep;
  }
  return embeddings_->ScoredStates(CausalPool(x, batch.segments, config_.pooling, config_.pooling_k));
}

torch::Tensor HSTUImpl::LastStates(const SequenceBatch& batch) {
  if (config_.pooling != PoolingKind::kLast) return UserStates(batch).select(1, batch.length() - 1);
  auto x = embeddings_->Embed(batch);
  const auto blocks = static_cast<int64_t>(blocks_->size());
  // With one block only the last query's masks are read.
  const auto context =
      MakeAttentionContext(batch, AttentionKind::kPointwise, x.scalar_type(), blocks > 1 ? 0 : 1);
  const auto keep = batch.items.ne(0).unsqueeze(-1).to(x.scalar_type());
  for (int64_t i = 0; i + 1 < blocks; ++i) x = blocks_[i]->as<HSTUBlock>()->forward(x, context) * keep;
  // The last position of a left-padded row is always an item, so its keep is 1.
  x = blocks_[blocks - 1]->as<HSTUBlock>()->ForwardLast(x, context);
  return embeddings_->ScoredStates(x).select(1, 0);
}

torch::Tensor HSTUImpl::OutputEmbeddings() { return embeddings_->Output(); }

double HSTUImpl::LogitScale() const { return embeddings_->LogitScale(); }

}  // namespace vmle::trainer
