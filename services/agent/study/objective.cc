#include "services/agent/study/objective.h"

namespace vmle::agent {

double MetricValue(const vmle::v1::MetricValues& v, vmle::v1::Metric metric) {
  switch (metric) {
    case vmle::v1::METRIC_RECALL_AT_5: return v.recall_at_5();
    case vmle::v1::METRIC_RECALL_AT_10: return v.recall_at_10();
    case vmle::v1::METRIC_RECALL_AT_20: return v.recall_at_20();
    case vmle::v1::METRIC_NDCG_AT_5: return v.ndcg_at_5();
    case vmle::v1::METRIC_NDCG_AT_10: return v.ndcg_at_10();
    case vmle::v1::METRIC_NDCG_AT_20: return v.ndcg_at_20();
    case vmle::v1::METRIC_MRR: return v.mrr();
    default: return 0;
  }
}

const char* MetricLabel(vmle::v1::Metric metric) {
  switch (metric) {
    case vmle::v1::METRIC_RECALL_AT_5: return "Recall@5";
    case vmle::v1::METRIC_RECALL_AT_10: return "Recall@10";
    case vmle::v1::METRIC_RECALL_AT_20: return "Recall@20";
    case vmle::v1::METRIC_NDCG_AT_5: return "NDCG@5";
    case vmle::v1::METRIC_NDCG_AT_10: return "NDCG@10";
    case vmle::v1::METRIC_NDCG_AT_20: return "NDCG@20";
    case vmle::v1::METRIC_MRR: return "MRR";
    default: return "?";
  }
}

}  // namespace vmle::agent
