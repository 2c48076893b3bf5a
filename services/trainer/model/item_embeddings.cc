#include "services/trainer/model/item_embeddings.h"

#include <cmath>

#include "services/trainer/model/row_norm.h"

namespace vmle::trainer {
namespace {

torch::nn::Embedding ItemTable(int64_t rows, int64_t dim, double std) {
  torch::nn::Embedding table(torch::nn::EmbeddingOptions(rows, dim).padding_idx(0));
  torch::nn::init::normal_(table->weight, 0.0, std);
  torch::NoGradGuard no_grad;
  table->weight[0].zero_();
  return table;
}

torch::Tensor L2Normalize(const torch::Tensor& x) { return L2NormalizeRows(x, 1e-6); }

}  // namespace

ItemEmbeddingsImpl::ItemEmbeddingsImpl(const ModelConfig& config, double item_std) : config_(config) {
  const int64_t rows = config.num_items + 1;
  item_ = register_module("item", ItemTable(rows, config.hidden_dim, item_std));
  if (!config.tie_embeddings) {
    output_ = register_module("output", ItemTable(rows, config.hidden_dim, item_std));
  }
  if (UsesAbsolutePositions(config.positions)) {
    position_ = register_module("position", torch::nn::Embedding(config.max_len, config.hidden_dim));
    torch::nn::init::normal_(position_->weight, 0.0, 1.0 / std::sqrt(config.hidden_dim));
  }
  dropout_ = register_module("dropout", Dropout(config.dropout));
}

torch::Tensor ItemEmbeddingsImpl::Embed(const SequenceBatch& batch) {
  auto x = item_(batch.items) * std::sqrt(static_cast<double>(config_.hidden_dim));
  if (position_) x = x + position_(batch.positions);
  return dropout_(x) * batch.items.ne(0).unsqueeze(-1).to(x.scalar_type());
}

torch::Tensor ItemEmbeddingsImpl::ScoredStates(const torch::Tensor& states) const {
  return config_.embedding_norm ? L2Normalize(states) : states;
}

torch::Tensor ItemEmbeddingsImpl::Output() {
  const torch::Tensor& table = config_.tie_embeddings ? item_->weight : output_->weight;
  return config_.embedding_norm ? L2Normalize(table) : table;
}

double ItemEmbeddingsImpl::LogitScale() const {
  return config_.embedding_norm ? 1.0 / config_.temperature : 1.0;
}

}  // namespace vmle::trainer
