// The study's objective read from metric values, and comparisons that respect its
// direction.
#pragma once

#include "vmle/v1/common.pb.h"
#include "vmle/v1/study.pb.h"

namespace vmle::agent {

// The value of `metric` in `values` (0 for METRIC_UNSPECIFIED).
double MetricValue(const vmle::v1::MetricValues& values, vmle::v1::Metric metric);

// True when `a` is strictly better than `b` under `direction`.
inline bool Better(double a, double b, vmle::v1::Direction direction) {
  return direction == vmle::v1::DIRECTION_MINIMIZE ? a < b : a > b;
}

// "val NDCG@10" etc.
const char* MetricLabel(vmle::v1::Metric metric);

}  // namespace vmle::agent
