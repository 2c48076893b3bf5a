// Ranking metrics of the evaluation protocol, accumulated from 0-based ranks.
#pragma once

#include <cstdint>
#include <string>

namespace vmle::trainer {

struct RankingMetrics {
  double recall_at_5 = 0;
  double recall_at_10 = 0;
  double recall_at_20 = 0;
  double ndcg_at_5 = 0;
  double ndcg_at_10 = 0;
  double ndcg_at_20 = 0;
  double mrr = 0;
  int64_t num_users = 0;

  // By name: recall@5, recall@10, recall@20, ndcg@5, ndcg@10, ndcg@20, mrr.
  // Unknown names give -1 (names are validated with the configuration).
  double Get(const std::string& name) const;
};

// Sums per-user contributions; rank 0 means the target scored highest.
class MetricAccumulator {
 public:
  void Add(int64_t rank);
  RankingMetrics Finish() const;

 private:
  RankingMetrics sums_;
};

}  // namespace vmle::trainer
