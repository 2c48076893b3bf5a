#include "services/trainer/eval/evaluator.h"

#include <algorithm>
#include <limits>
#include <optional>

#include "services/trainer/eval/fused_rank.h"

namespace vmle::trainer {

Evaluator::Evaluator(const Dataset& dataset, EvalSplit split, int64_t max_len,
                     int64_t batch_size, const ScorePriors* priors)
    : priors_(priors) {
  const int64_t recent_k = priors != nullptr ? priors->recent_k() : 0;
  std::vector<EvalCase> cases = MakeEvalCases(dataset, split);
  num_cases_ = static_cast<int64_t>(cases.size());
  auto model_length = [max_len](const EvalCase& c) { return std::min(c.history_length, max_len); };
  std::stable_sort(cases.begin(), cases.end(), [&](const EvalCase& a, const EvalCase& b) {
    return model_length(a) < model_length(b);
  });
  for (size_t start = 0; start < cases.size(); start += batch_size) {
    const size_t end = std::min(cases.size(), start + static_cast<size_t>(batch_size));
    const int64_t rows = static_cast<int64_t>(end - start);
    const int64_t length = model_length(cases[end - 1]);
    std::vector<int64_t> inputs(rows * length, 0);
    std::vector<int64_t> targets(rows);
    std::vector<int64_t> mask_rows;
    std::vector<int64_t> mask_cols;
    std::vector<int64_t> recent(rows * recent_k, 0);
    for (int64_t r = 0; r < rows; ++r) {
      const EvalCase& c = cases[start + r];
      const auto& seq = dataset.sequences[c.user_id - 1];
      const int64_t n = model_length(c);
      for (int64_t j = 0; j < n; ++j) {
        inputs[r * length + (length - n) + j] = seq[c.history_length - n + j];
      }
      targets[r] = c.target;
      const int64_t k = std::min(recent_k, c.history_length);
      for (int64_t j = 0; j < k; ++j) {
        recent[r * recent_k + (recent_k - k) + j] = seq[c.history_length - k + j];
      }
      // Each history item once, the target never (its score is what is ranked).
      std::vector<int32_t> history(seq.begin(), seq.begin() + c.history_length);
      std::sort(history.begin(), history.end());
      history.erase(std::unique(history.begin(), history.end()), history.end());
      for (int32_t item : history) {
        if (item == c.target) continue;
        mask_rows.push_back(r);
        mask_cols.push_back(item);
      }
    }
    Batch batch;
    batch.inputs = torch::tensor(inputs, torch::kLong).view({rows, length});
    batch.targets = torch::tensor(targets, torch::kLong).view({rows, 1});
    batch.mask_rows = torch::tensor(mask_rows, torch::kLong);
    batch.mask_cols = torch::tensor(mask_cols, torch::kLong);
    batch.recent = torch::tensor(recent, torch::kLong).view({rows, recent_k});
    batches_.push_back(std::move(batch));
  }
}

namespace {

// Items of row[0, n) scoring strictly above t. Compiled for AVX-512, AVX2 and the
// baseline, picked at load time by the CPU: the count is a pass over every score
// of every user, and the baseline's 128-bit vectors halve its speed. int32 partial
// sums keep the comparison lanes as wide as the floats.
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
int64_t CountAbove(const float* row, int64_t n, float t) {
  constexpr int64_t kChunk = int64_t{1} << 20;  // far below int32's range
  int64_t total = 0;
  for (int64_t start = 0; start < n; start += kChunk) {
    const int64_t end = std::min(n, start + kChunk);
    int32_t above = 0;
    for (int64_t j = start; j < end; ++j) above += row[j] > t ? 1 : 0;
    total += above;
  }
  return total;
}

// CPU path: one pass over each score row counting items above the target, minus
// the masked history items above it; no masked copy of the scores is written.
// Requires each (row, item) at most once in the mask and never the row's target.
torch::Tensor RankTargetsCpu(const torch::Tensor& scores, const torch::Tensor& targets,
                             const torch::Tensor& mask_rows, const torch::Tensor& mask_cols) {
  const auto s = scores.contiguous();
  const int64_t rows = s.size(0);
  const int64_t cols = s.size(1);
  const float* data = s.data_ptr<float>();
  const int64_t* target = targets.contiguous().data_ptr<int64_t>();
  auto ranks = torch::zeros({rows}, torch::kLong);
  int64_t* out = ranks.data_ptr<int64_t>();
  at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* row = data + r * cols;
      out[r] = CountAbove(row + 1, cols - 1, row[target[r]]);
    }
  });
  const int64_t* mr = mask_rows.data_ptr<int64_t>();
  const int64_t* mc = mask_cols.data_ptr<int64_t>();
  for (int64_t i = 0; i < mask_rows.numel(); ++i) {
    const float* row = data + mr[i] * cols;
    out[mr[i]] -= row[mc[i]] > row[target[mr[i]]];
  }
  return ranks;
}

}  // namespace

torch::Tensor RankTargets(torch::Tensor& scores, const torch::Tensor& targets,
                          const torch::Tensor& mask_rows, const torch::Tensor& mask_cols) {
  if (scores.device().is_cpu() && scores.scalar_type() == torch::kFloat) {
    return RankTargetsCpu(scores, targets, mask_rows, mask_cols);
  }
  const auto target_scores = scores.gather(1, targets);
  const auto minus_inf =
      torch::full({}, -std::numeric_limits<float>::infinity(), scores.options());
  if (mask_rows.numel() > 0) scores.index_put_({mask_rows, mask_cols}, minus_inf);
  scores.select(1, 0).fill_(-std::numeric_limits<float>::infinity());
  return scores.gt(target_scores).sum(1);
}

torch::Tensor RankTargetsReranked(torch::Tensor& scores, const torch::Tensor& targets,
                                  const torch::Tensor& mask_rows, const torch::Tensor& mask_cols,
                                  const ScorePriors& priors, const torch::Tensor& recent) {
  const float minus_inf = -std::numeric_limits<float>::infinity();
  if (mask_rows.numel() > 0) {
    scores.index_put_({mask_rows, mask_cols}, torch::full({}, minus_inf, scores.options()));
  }
  scores.select(1, 0).fill_(minus_inf);
  const auto target_scores = scores.gather(1, targets);
  const auto below = scores.gt(target_scores).sum(1);
  const int64_t k = std::min<int64_t>(priors.weights().rerank_topk, scores.size(1) - 1);
  const auto top = scores.topk(k, 1);
  const auto& candidates = std::get<1>(top);
  const auto rerank = priors.Rerank(std::get<0>(top), candidates, recent);
  const auto is_target = candidates.eq(targets);  // [B, K]
  const auto target_rerank = rerank.masked_fill(is_target.logical_not(), minus_inf).amax(1, true);
  const auto inside = (rerank.gt(target_rerank) & is_target.logical_not()).sum(1);
  return torch::where(is_target.any(1), inside, below);
}

RankingMetrics Evaluator::Evaluate(SequentialRecommender& model, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  MetricAccumulator metrics;
  const torch::Tensor embeddings = model.OutputEmbeddings();
  // Without priors the CPU counts ranks as it forms the products (fused_rank.h);
  // otherwise [D, N + 1] once, contiguous, so each batch's scores are one plain
  // matrix product.
  std::optional<FusedRanker> fused;
  torch::Tensor items;
  if (priors_ == nullptr && embeddings.device().is_cpu() &&
      embeddings.scalar_type() == torch::kFloat && FusedRanker::Available()) {
    fused.emplace(embeddings);
  } else {
    items = embeddings.t().contiguous();
  }
  const double scale = model.LogitScale();
  const bool rerank = priors_ != nullptr && priors_->weights().reranks();
  for (const Batch& batch : batches_) {
    auto states = model.LastStates(LeftPadded(batch.inputs.to(device), model.max_len()));
    // Scaling the [B, D] states costs less than scaling the [B, N + 1] scores.
    if (scale != 1.0) states = states * scale;
    torch::Tensor ranks;
    if (fused) {
      ranks = fused->Rank(states, batch.targets, batch.mask_rows, batch.mask_cols);
    } else {
      auto scores = torch::matmul(states, items);
      if (priors_ != nullptr) scores = priors_->Blend(scores, batch.recent);
      const auto targets = batch.targets.to(device);
      const auto mask_rows = batch.mask_rows.to(device);
      const auto mask_cols = batch.mask_cols.to(device);
      ranks = (rerank ? RankTargetsReranked(scores, targets, mask_rows, mask_cols, *priors_,
                                            batch.recent)
                      : RankTargets(scores, targets, mask_rows, mask_cols))
                  .to(torch::kCPU);
    }
    const auto* r = ranks.data_ptr<int64_t>();
    for (int64_t i = 0; i < ranks.size(0); ++i) metrics.Add(r[i]);
  }
  model.train(was_training);
  return metrics.Finish();
}

}  // namespace vmle::trainer
