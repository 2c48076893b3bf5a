#include "services/trainer/model/sequence_batch.h"

#include <algorithm>

namespace vmle::trainer {

SequenceBatch SequenceBatch::To(const torch::Device& device) const {
  return {items.to(device), segments.to(device), positions.to(device)};
}

SequenceBatch LeftPadded(const torch::Tensor& items, int64_t max_len) {
  const auto valid = items.ne(0);
  const int64_t length = items.size(1);
  const auto columns = torch::arange(length, items.options()).unsqueeze(0);
  const auto positions = (columns + (max_len - length)).clamp_min(0).expand_as(items);
  return {items, valid.to(torch::kLong), positions.masked_fill(valid.logical_not(), 0)};
}

torch::Tensor SegmentAttentionMask(const torch::Tensor& segments, int64_t last_queries) {
  const int64_t length = segments.size(1);
  const int64_t queries = last_queries > 0 ? std::min(last_queries, length) : length;
  const int64_t first = length - queries;
  const auto opts = torch::TensorOptions().dtype(torch::kBool).device(segments.device());
  const auto causal = torch::ones({length, length}, opts).tril().narrow(0, first, queries).unsqueeze(0);
  const auto same = segments.narrow(1, first, queries).unsqueeze(2).eq(segments.unsqueeze(1)) &
                    segments.ne(0).unsqueeze(1);
  return (same & causal) | torch::eye(length, opts).narrow(0, first, queries).unsqueeze(0);
}

torch::Tensor SegmentStarts(const torch::Tensor& segments) {
  const int64_t length = segments.size(1);
  const auto columns = torch::arange(length, segments.options()).unsqueeze(0).expand_as(segments);
  auto boundary = segments.eq(0);
  boundary.narrow(1, 0, 1).fill_(true);
  if (length > 1) {
    boundary.narrow(1, 1, length - 1)
        .logical_or_(segments.narrow(1, 1, length - 1).ne(segments.narrow(1, 0, length - 1)));
  }
  return std::get<0>(torch::cummax(columns.masked_fill(boundary.logical_not(), 0), 1));
}

}  // namespace vmle::trainer
