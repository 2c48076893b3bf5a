#include "services/memory/store/retrieval.h"

#include <algorithm>
#include <cmath>
#include <tuple>

namespace vmle::memory {
namespace {

struct Accumulator {
  double weighted_sum = 0.0;
  double weights = 0.0;

  void Add(double weight, double z) {
    if (weight <= 0.0) return;
    weighted_sum += weight * z * z;
    weights += weight;
  }
};

// Doublings between two positive sizes; skipped when either is unknown (<= 0).
void AddLog(Accumulator& acc, double weight, double a, double b) {
  if (a > 0.0 && b > 0.0) acc.Add(weight, std::log2(a / b));
}

// Differences in units of `unit`; skipped when either is unknown (0).
void AddLinear(Accumulator& acc, double weight, double a, double b, double unit) {
  if (a > 0.0 && b > 0.0) acc.Add(weight, (a - b) / unit);
}

double Sparsity(double density) { return density > 0.0 ? -std::log10(density) : 0.0; }

int64_t CreatedNanos(const v1::CognitionSummary& s) {
  return s.created_at().seconds() * 1000000000LL + s.created_at().nanos();
}

}  // namespace

double ProfileDistance(const v1::DatasetProfile& a, const v1::DatasetProfile& b,
                       const RetrievalOptions& o) {
  Accumulator acc;
  AddLog(acc, o.users, static_cast<double>(a.num_users()), static_cast<double>(b.num_users()));
  AddLog(acc, o.items, static_cast<double>(a.num_items()), static_cast<double>(b.num_items()));
  AddLog(acc, o.interactions, static_cast<double>(a.num_interactions()),
         static_cast<double>(b.num_interactions()));
  AddLog(acc, o.mean_length, a.mean_length(), b.mean_length());
  AddLog(acc, o.median_length, a.median_length(), b.median_length());
  AddLinear(acc, o.sparsity, Sparsity(a.density()), Sparsity(b.density()), 1.0);
  AddLinear(acc, o.popularity_gini, a.popularity_gini(), b.popularity_gini(), 0.1);
  AddLinear(acc, o.top1pct_share, a.top1pct_share(), b.top1pct_share(), 0.1);
  if (acc.weights <= 0.0) return 0.0;
  return std::sqrt(acc.weighted_sum / acc.weights);
}

double ProfileSimilarity(const v1::DatasetProfile& a, const v1::DatasetProfile& b,
                         const RetrievalOptions& options) {
  return 1.0 / (1.0 + ProfileDistance(a, b, options));
}

std::vector<v1::ScoredCognitionSummary> NearestSummaries(
    std::vector<v1::CognitionSummary> candidates, const v1::DatasetProfile& query, int k,
    const RetrievalOptions& options) {
  std::vector<v1::ScoredCognitionSummary> scored;
  scored.reserve(candidates.size());
  for (v1::CognitionSummary& summary : candidates) {
    v1::ScoredCognitionSummary s;
    s.set_score(ProfileSimilarity(query, summary.dataset_profile(), options));
    *s.mutable_summary() = std::move(summary);
    scored.push_back(std::move(s));
  }
  const auto rank = [](const v1::ScoredCognitionSummary& s) {
    return std::make_tuple(-s.score(), -CreatedNanos(s.summary()), s.summary().id());
  };
  const size_t keep = std::min(scored.size(), static_cast<size_t>(std::max(k, 0)));
  std::partial_sort(scored.begin(), scored.begin() + keep, scored.end(),
                    [&](const auto& x, const auto& y) { return rank(x) < rank(y); });
  scored.resize(keep);
  return scored;
}

}  // namespace vmle::memory
