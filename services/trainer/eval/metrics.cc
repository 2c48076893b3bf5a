#include "services/trainer/eval/metrics.h"

#include <cmath>

namespace vmle::trainer {

double RankingMetrics::Get(const std::string& name) const {
  if (name == "recall@5") return recall_at_5;
  if (name == "recall@10") return recall_at_10;
  if (name == "recall@20") return recall_at_20;
  if (name == "ndcg@5") return ndcg_at_5;
  if (name == "ndcg@10") return ndcg_at_10;
  if (name == "ndcg@20") return ndcg_at_20;
  if (name == "mrr") return mrr;
  return -1;
}

void MetricAccumulator::Add(int64_t rank) {
  const double gain = 1.0 / std::log2(static_cast<double>(rank) + 2.0);
  if (rank < 5) {
    sums_.recall_at_5 += 1;
    sums_.ndcg_at_5 += gain;
  }
  if (rank < 10) {
    sums_.recall_at_10 += 1;
    sums_.ndcg_at_10 += gain;
  }
  if (rank < 20) {
    sums_.recall_at_20 += 1;
    sums_.ndcg_at_20 += gain;
  }
  sums_.mrr += 1.0 / static_cast<double>(rank + 1);
  ++sums_.num_users;
}

RankingMetrics MetricAccumulator::Finish() const {
  RankingMetrics m = sums_;
  if (m.num_users == 0) return m;
  const double n = static_cast<double>(m.num_users);
  for (double* v : {&m.recall_at_5, &m.recall_at_10, &m.recall_at_20, &m.ndcg_at_5,
                    &m.ndcg_at_10, &m.ndcg_at_20, &m.mrr}) {
    *v /= n;
  }
  return m;
}

}  // namespace vmle::trainer
