#include "services/trainer/eval/priors.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace vmle::trainer {
namespace {

// Additive smoothing, in counts: small, so observed successors and neighbours dominate.
constexpr double kSmoothing = 0.01;

NeighbourTable TransitionTable(const TrainingPriors& counts) {
  NeighbourTable table;
  table.rows.resize(counts.transitions.size());
  table.totals.assign(counts.transitions.size(), 0.0);
  for (size_t i = 0; i < counts.transitions.size(); ++i) {
    for (const ItemCount& next : counts.transitions[i]) {
      table.rows[i].push_back({next.item, static_cast<float>(next.count)});
      table.totals[i] += next.count;
    }
  }
  return table;
}

// log P(. | recent) [B, N + 1] from `table`: the mean over the real recent items m of
// (w(m, i) + s) / (W_m + s N); uniform without history.
torch::Tensor LogConditional(const NeighbourTable& table, int64_t num_items, const torch::Tensor& recent) {
  const auto items = recent.to(torch::kCPU).contiguous();
  const int64_t rows = items.size(0);
  const int64_t k = items.size(1);
  auto out = torch::empty({rows, num_items + 1});
  float* o = out.data_ptr<float>();
  const int64_t* last = items.data_ptr<int64_t>();
  const double smoothing_mass = kSmoothing * static_cast<double>(num_items);
  // A constant for items no source leads to, plus the observed ones.
  std::vector<double> extra(num_items + 1, 0.0);
  std::vector<int32_t> touched;
  for (int64_t r = 0; r < rows; ++r) {
    float* row = o + r * (num_items + 1);
    double base = 0;
    int64_t used = 0;
    touched.clear();
    for (int64_t j = 0; j < k; ++j) {
      const int64_t item = last[r * k + j];
      if (item <= 0 || item > num_items) continue;
      ++used;
      const double denominator = table.totals[item] + smoothing_mass;
      base += kSmoothing / denominator;
      for (const auto& next : table.rows[item]) {
        if (extra[next.item] == 0.0) touched.push_back(next.item);
        extra[next.item] += next.weight / denominator;
      }
    }
    if (used == 0) {
      std::fill(row, row + num_items + 1, static_cast<float>(-std::log(num_items)));
      continue;
    }
    std::fill(row, row + num_items + 1, static_cast<float>(std::log(base / used)));
    for (int32_t item : touched) {
      row[item] = static_cast<float>(std::log((base + extra[item]) / used));
      extra[item] = 0.0;
    }
  }
  return out;
}

}  // namespace

NeighbourTable ItemCfNeighbours(const Dataset& dataset, const TrainingPriors& counts,
                                const ItemCfOptions& options) {
  const int64_t num_items = dataset.num_items;
  // Every ordered co-occurring pair (a, b), a != b, as a << 32 | b; sorted, the runs
  // are the counts c(a, b).
  std::vector<uint64_t> pairs;
  for (const auto& seq : dataset.sequences) {
    const int64_t length = TrainLength(static_cast<int64_t>(seq.size()));
    for (int64_t i = 0; i < length; ++i) {
      for (int64_t j = i + 1; j < length && j <= i + options.window; ++j) {
        const int64_t a = seq[i], b = seq[j];
        if (a == b || a < 1 || b < 1 || a > num_items || b > num_items) continue;
        pairs.push_back(static_cast<uint64_t>(a) << 32 | static_cast<uint64_t>(b));
        pairs.push_back(static_cast<uint64_t>(b) << 32 | static_cast<uint64_t>(a));
      }
    }
  }
  std::sort(pairs.begin(), pairs.end());
  NeighbourTable table;
  table.rows.resize(num_items + 1);
  table.totals.assign(num_items + 1, 0.0);
  struct Candidate {
    double weight;
    int32_t item;
    int64_t count;
  };
  std::vector<Candidate> candidates;
  auto occurrences = [&](int64_t item) { return static_cast<double>(std::max<int64_t>(1, counts.popularity[item])); };
  for (size_t begin = 0; begin < pairs.size();) {
    const auto a = static_cast<int64_t>(pairs[begin] >> 32);
    candidates.clear();
    size_t at = begin;
    while (at < pairs.size() && static_cast<int64_t>(pairs[at] >> 32) == a) {
      size_t run = at;
      while (run < pairs.size() && pairs[run] == pairs[at]) ++run;
      const auto b = static_cast<int32_t>(pairs[at] & 0xFFFFFFFFull);
      const auto c = static_cast<int64_t>(run - at);
      double w = static_cast<double>(c);
      if (options.norm == ItemCfNorm::kSqrt) w /= std::sqrt(occurrences(a) * occurrences(b));
      if (options.norm == ItemCfNorm::kCount) w /= occurrences(b);
      candidates.push_back({w, b, c});
      at = run;
    }
    begin = at;
    const auto keep = std::min<size_t>(candidates.size(), static_cast<size_t>(options.top_k));
    std::partial_sort(candidates.begin(), candidates.begin() + keep, candidates.end(),
                      [](const Candidate& x, const Candidate& y) {
                        return x.weight != y.weight ? x.weight > y.weight : x.item < y.item;
                      });
    double weight_sum = 0, count_sum = 0;
    for (size_t i = 0; i < keep; ++i) {
      weight_sum += candidates[i].weight;
      count_sum += static_cast<double>(candidates[i].count);
    }
    // Rescaled to sum to the kept co-occurrence count, so smoothing weighs as for counts.
    for (size_t i = 0; i < keep; ++i) {
      table.rows[a].push_back({candidates[i].item, static_cast<float>(candidates[i].weight * count_sum / weight_sum)});
    }
    table.totals[a] = count_sum;
  }
  return table;
}

std::shared_ptr<const TrainingPriors> PriorTables::Counts() {
  std::lock_guard<std::mutex> lock(mu_);
  if (counts_ == nullptr) counts_ = std::make_shared<const TrainingPriors>(ComputeTrainingPriors(dataset_));
  return counts_;
}

std::shared_ptr<const NeighbourTable> PriorTables::Transitions() {
  const auto counts = Counts();
  std::lock_guard<std::mutex> lock(mu_);
  if (transitions_ == nullptr) transitions_ = std::make_shared<const NeighbourTable>(TransitionTable(*counts));
  return transitions_;
}

std::shared_ptr<const NeighbourTable> PriorTables::ItemCf(const ItemCfOptions& options) {
  const auto counts = Counts();
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = itemcf_.find(options.key());
    if (it != itemcf_.end()) return it->second;
  }
  // Computed outside the lock; two callers may both compute it, the first is kept.
  auto table = std::make_shared<const NeighbourTable>(ItemCfNeighbours(dataset_, *counts, options));
  std::lock_guard<std::mutex> lock(mu_);
  return itemcf_.emplace(options.key(), std::move(table)).first->second;
}

ScorePriors::ScorePriors(const Dataset& dataset, const PriorWeights& weights, PriorTables* tables)
    : weights_(weights), num_items_(dataset.num_items) {
  std::unique_ptr<PriorTables> own;
  if (tables == nullptr) {
    own = std::make_unique<PriorTables>(dataset);
    tables = own.get();
  }
  const auto counts = tables->Counts();
  double total = 0;
  for (int64_t c : counts->popularity) total += static_cast<double>(c);
  std::vector<float> log_pop(num_items_ + 1, 0.f);
  const double denominator = total + kSmoothing * static_cast<double>(num_items_);
  for (int64_t i = 1; i <= num_items_; ++i) {
    log_pop[i] = static_cast<float>(
        std::log((static_cast<double>(counts->popularity[i]) + kSmoothing) / denominator));
  }
  log_popularity_ = torch::tensor(log_pop);
  transitions_ = tables->Transitions();
  if (weights_.uses_itemcf()) itemcf_ = tables->ItemCf(weights_.itemcf_options);
}

torch::Tensor ScorePriors::LogTransition(const torch::Tensor& recent) const {
  return LogConditional(*transitions_, num_items_, recent);
}

torch::Tensor ScorePriors::LogItemCf(const torch::Tensor& recent) const {
  return itemcf_ != nullptr ? LogConditional(*itemcf_, num_items_, recent)
                            : torch::full({recent.size(0), num_items_ + 1}, -std::log(num_items_));
}

torch::Tensor ScorePriors::Blend(const torch::Tensor& scores, const torch::Tensor& recent) const {
  if (!weights_.blends()) return scores;
  const double model_weight = 1.0 - weights_.popularity - weights_.transition - weights_.itemcf;
  auto model = torch::log_softmax(scores.narrow(1, 1, num_items_), 1);
  auto blended = torch::zeros_like(scores);
  auto body = blended.narrow(1, 1, num_items_);
  if (model_weight > 0) body.add_(model, model_weight);
  if (weights_.popularity > 0) {
    body.add_(log_popularity_.to(scores.device()).narrow(0, 1, num_items_).unsqueeze(0),
              weights_.popularity);
  }
  if (weights_.transition > 0) {
    body.add_(LogTransition(recent).to(scores.device()).narrow(1, 1, num_items_), weights_.transition);
  }
  if (weights_.itemcf > 0) {
    body.add_(LogItemCf(recent).to(scores.device()).narrow(1, 1, num_items_), weights_.itemcf);
  }
  return blended;
}

torch::Tensor ScorePriors::Rerank(const torch::Tensor& values, const torch::Tensor& candidates,
                                  const torch::Tensor& recent) const {
  const double model_weight =
      1.0 - weights_.rerank_popularity - weights_.rerank_transition - weights_.rerank_itemcf;
  const auto device = values.device();
  auto out = model_weight > 0 ? values * model_weight : torch::zeros_like(values);
  if (weights_.rerank_popularity > 0) {
    out = out + log_popularity_.to(device).index_select(0, candidates.view(-1)).view_as(candidates) *
                    weights_.rerank_popularity;
  }
  if (weights_.rerank_transition > 0) {
    out = out + LogTransition(recent).to(device).gather(1, candidates) * weights_.rerank_transition;
  }
  if (weights_.rerank_itemcf > 0) {
    out = out + LogItemCf(recent).to(device).gather(1, candidates) * weights_.rerank_itemcf;
  }
  // Candidates the ranking masked (history, padding) stay out of reach.
  return out.masked_fill(values.eq(-std::numeric_limits<float>::infinity()),
                         -std::numeric_limits<float>::infinity());
}

}  // namespace vmle::trainer
