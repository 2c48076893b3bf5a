// Retrieval of cognition summaries (L3 memory) by dataset profile: which earlier
// datasets look most like the new one, so their tuning rules transfer.
//
// The distance compares profiles feature by feature, each on the scale where a unit
// means the same thing across datasets:
//   users, items, interactions, mean and median history length: log scale, in
//     doublings (|log2(a/b)|): 10k vs 20k users is as far apart as 1M vs 2M;
//   density: as sparsity in decades (-log10 density), compared linearly;
//   popularity Gini and top-1% share (skew): linearly, in units of 0.1.
// distance = sqrt(sum_i w_i z_i^2 / sum_i w_i) over the features both profiles have
// (a zero length, density or skew counts as unknown and is skipped), and the score is
// 1 / (1 + distance): 1 for identical profiles, falling towards 0.
//
// Pure functions, thread-safe.
#pragma once

#include <vector>

#include "vmle/v1/common.pb.h"
#include "vmle/v1/memory.pb.h"
#include "vmle/v1/memory_service.pb.h"

namespace vmle::memory {

// Weights of the profile features in the distance (0 ignores a feature).
struct RetrievalOptions {
  double users = 1.0;
  double items = 1.0;
  double interactions = 1.0;
  // Short histories (mean under 10) versus long ones decides which levers help most,
  // so the mean length counts double.
  double mean_length = 2.0;
  double median_length = 1.0;
  double sparsity = 1.0;
  double popularity_gini = 1.0;
  double top1pct_share = 1.0;
};

// The distance above; >= 0, 0 for equal profiles, symmetric.
double ProfileDistance(const v1::DatasetProfile& a, const v1::DatasetProfile& b,
                       const RetrievalOptions& options = {});

// 1 / (1 + ProfileDistance): in (0, 1], 1 for equal profiles.
double ProfileSimilarity(const v1::DatasetProfile& a, const v1::DatasetProfile& b,
                         const RetrievalOptions& options = {});

// The k candidates nearest `query`, nearest first, with their scores. Ties go to the
// newer summary (created_at), then to the smaller id, so the order is deterministic.
std::vector<v1::ScoredCognitionSummary> NearestSummaries(
    std::vector<v1::CognitionSummary> candidates, const v1::DatasetProfile& query, int k,
    const RetrievalOptions& options = {});

}  // namespace vmle::memory
