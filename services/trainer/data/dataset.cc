#include "services/trainer/data/dataset.h"

#include <algorithm>
#include <cstddef>
#include <functional>
#include <string>

namespace vmle::trainer {
namespace {

double Median(std::vector<int64_t> values) {
  if (values.empty()) return 0;
  const auto mid = static_cast<ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), values.begin() + mid, values.end());
  const double upper = static_cast<double>(values[static_cast<size_t>(mid)]);
  if (values.size() % 2 == 1) return upper;
  const int64_t lower = *std::max_element(values.begin(), values.begin() + mid);
  return (static_cast<double>(lower) + upper) / 2;
}

// Gini coefficient of non-negative `counts`: G = 2 * sum(i * x_i) / (n * sum(x))
// - (n + 1) / n over the counts sorted ascending, i = 1..n.
double Gini(std::vector<int64_t> counts) {
  const double n = static_cast<double>(counts.size());
  if (counts.empty()) return 0;
  std::sort(counts.begin(), counts.end());
  double total = 0;
  double weighted = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    total += static_cast<double>(counts[i]);
    weighted += static_cast<double>(i + 1) * static_cast<double>(counts[i]);
  }
  if (total == 0) return 0;
  return 2 * weighted / (n * total) - (n + 1) / n;
}

double TopShare(std::vector<int64_t> counts, int64_t total) {
  if (counts.empty() || total == 0) return 0;
  const size_t top = std::max<size_t>(1, (counts.size() + 99) / 100);
  std::partial_sort(counts.begin(), counts.begin() + static_cast<ptrdiff_t>(top), counts.end(),
                    std::greater<int64_t>());
  int64_t sum = 0;
  for (size_t i = 0; i < top; ++i) sum += counts[i];
  return static_cast<double>(sum) / static_cast<double>(total);
}

}  // namespace

int64_t NumInteractions(const Dataset& dataset) {
  int64_t total = 0;
  for (const auto& seq : dataset.sequences) total += static_cast<int64_t>(seq.size());
  return total;
}

Status ValidateDataset(const Dataset& dataset) {
  if (dataset.num_users < 0 || dataset.num_items < 0) {
    return InvalidArgumentError("dataset: negative num_users or num_items");
  }
  if (static_cast<int64_t>(dataset.sequences.size()) != dataset.num_users) {
    return InvalidArgumentError("dataset: num_users is " + std::to_string(dataset.num_users) +
                                " but there are " + std::to_string(dataset.sequences.size()) +
                                " sequences");
  }
  for (size_t u = 0; u < dataset.sequences.size(); ++u) {
    const auto& seq = dataset.sequences[u];
    if (seq.empty()) {
      return InvalidArgumentError("dataset: user " + std::to_string(u + 1) +
                                  " has an empty sequence");
    }
    for (size_t i = 0; i < seq.size(); ++i) {
      if (seq[i] < 1 || seq[i] > dataset.num_items) {
        return InvalidArgumentError("dataset: user " + std::to_string(u + 1) + " position " +
                                    std::to_string(i) + ": item id " + std::to_string(seq[i]) +
                                    " outside [1, " + std::to_string(dataset.num_items) + "]");
      }
    }
  }
  return OkStatus();
}

DatasetProfile ComputeProfile(const Dataset& dataset) {
  DatasetProfile profile;
  profile.num_users = dataset.num_users;
  profile.num_items = dataset.num_items;
  std::vector<int64_t> lengths;
  lengths.reserve(dataset.sequences.size());
  std::vector<int64_t> counts(static_cast<size_t>(std::max<int64_t>(0, dataset.num_items)), 0);
  int64_t counted = 0;
  for (const auto& seq : dataset.sequences) {
    lengths.push_back(static_cast<int64_t>(seq.size()));
    profile.max_length = std::max(profile.max_length, lengths.back());
    profile.num_interactions += lengths.back();
    for (int32_t item : seq) {
      if (item < 1 || item > dataset.num_items) continue;
      ++counts[static_cast<size_t>(item - 1)];
      ++counted;
    }
  }
  if (!lengths.empty()) {
    profile.mean_length =
        static_cast<double>(profile.num_interactions) / static_cast<double>(lengths.size());
  }
  profile.median_length = Median(std::move(lengths));
  if (dataset.num_users > 0 && dataset.num_items > 0) {
    profile.density =
        static_cast<double>(profile.num_interactions) /
        (static_cast<double>(dataset.num_users) * static_cast<double>(dataset.num_items));
  }
  profile.top1pct_share = TopShare(counts, counted);
  profile.popularity_gini = Gini(std::move(counts));
  return profile;
}

}  // namespace vmle::trainer
