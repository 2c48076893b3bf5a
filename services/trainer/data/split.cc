#include "services/trainer/data/split.h"

#include <algorithm>
#include <limits>

namespace vmle::trainer {
namespace {

bool InRange(int32_t item, int64_t num_items) { return item >= 1 && item <= num_items; }

// Consecutive training pairs packed as (from << 32 | to), sorted.
std::vector<uint64_t> SortedTrainingPairs(const Dataset& dataset) {
  std::vector<uint64_t> pairs;
  for (const auto& seq : dataset.sequences) {
    const int64_t n = TrainLength(static_cast<int64_t>(seq.size()));
    for (int64_t k = 1; k < n; ++k) {
      const int32_t from = seq[static_cast<size_t>(k - 1)];
      const int32_t to = seq[static_cast<size_t>(k)];
      if (!InRange(from, dataset.num_items) || !InRange(to, dataset.num_items)) continue;
      pairs.push_back(static_cast<uint64_t>(from) << 32 | static_cast<uint32_t>(to));
    }
  }
  std::sort(pairs.begin(), pairs.end());
  return pairs;
}

}  // namespace

int64_t TrainLength(int64_t sequence_length) {
  return IsEvaluated(sequence_length) ? sequence_length - 2 : sequence_length;
}

bool IsEvaluated(int64_t sequence_length) { return sequence_length >= kMinEvalLength; }

std::vector<EvalCase> MakeEvalCases(const Dataset& dataset, EvalSplit split) {
  std::vector<EvalCase> cases;
  cases.reserve(dataset.sequences.size());
  const int64_t offset = split == EvalSplit::kValidation ? 2 : 1;
  for (size_t u = 0; u < dataset.sequences.size(); ++u) {
    const auto& seq = dataset.sequences[u];
    const int64_t n = static_cast<int64_t>(seq.size());
    if (!IsEvaluated(n)) continue;
    EvalCase c;
    c.user_id = static_cast<int32_t>(u + 1);
    c.history_length = n - offset;
    c.target = seq[static_cast<size_t>(c.history_length)];
    cases.push_back(c);
  }
  return cases;
}

SplitSummary SummarizeSplit(const Dataset& dataset) {
  SplitSummary summary;
  summary.num_users = static_cast<int64_t>(dataset.sequences.size());
  for (const auto& seq : dataset.sequences) {
    const int64_t n = static_cast<int64_t>(seq.size());
    (IsEvaluated(n) ? summary.num_eval_users : summary.num_short_users) += 1;
    summary.num_train_interactions += TrainLength(n);
  }
  return summary;
}

TrainingPriors ComputeTrainingPriors(const Dataset& dataset) {
  TrainingPriors priors;
  const size_t size = static_cast<size_t>(std::max<int64_t>(0, dataset.num_items)) + 1;
  priors.popularity.assign(size, 0);
  priors.transitions.resize(size);
  for (const auto& seq : dataset.sequences) {
    const int64_t n = TrainLength(static_cast<int64_t>(seq.size()));
    for (int64_t k = 0; k < n; ++k) {
      const int32_t item = seq[static_cast<size_t>(k)];
      if (InRange(item, dataset.num_items)) ++priors.popularity[static_cast<size_t>(item)];
    }
  }
  const std::vector<uint64_t> pairs = SortedTrainingPairs(dataset);
  priors.num_transitions = static_cast<int64_t>(pairs.size());
  for (size_t k = 0; k < pairs.size();) {
    size_t run = k;
    while (run < pairs.size() && pairs[run] == pairs[k]) ++run;
    const auto count = std::min<size_t>(run - k, std::numeric_limits<int32_t>::max());
    priors.transitions[pairs[k] >> 32].push_back(
        {static_cast<int32_t>(pairs[k] & 0xffffffffu), static_cast<int32_t>(count)});
    k = run;
  }
  for (auto& row : priors.transitions) {
    std::sort(row.begin(), row.end(), [](const ItemCount& a, const ItemCount& b) {
      return a.count != b.count ? a.count > b.count : a.item < b.item;
    });
  }
  return priors;
}

}  // namespace vmle::trainer
