// The memory store's Prometheus metrics:
//   vmle_memory_operations_total{op,outcome}   store operations by outcome ("OK",
//                                              "NOT_FOUND", ...)
//   vmle_memory_operation_seconds{op}          their latency (histogram)
//   vmle_memory_records{kind}                  records per kind (exact)
//   vmle_memory_db_bytes                       bytes of the database directory
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace vmle::memory::internal {

class StoreMetrics {
 public:
  // Registers the families in `registry`, which must outlive this object.
  explicit StoreMetrics(prometheus::Registry& registry);

  void RecordOperation(absl::string_view op, absl::StatusCode code, double seconds);
  void SetRecords(absl::string_view kind, int64_t count);
  void SetDbBytes(int64_t bytes);

 private:
  prometheus::Family<prometheus::Counter>& operations_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Family<prometheus::Gauge>& records_;
  prometheus::Gauge& db_bytes_;
  absl::Mutex mu_;
  // Metrics by op (and outcome), so that each operation skips the family's label lookup.
  absl::flat_hash_map<std::string, prometheus::Histogram*> latency_by_op_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, prometheus::Counter*> count_by_op_outcome_ ABSL_GUARDED_BY(mu_);
};

inline const absl::Status& StatusOf(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& result) {
  return result.status();
}

// Runs `fn` (returning a Status or StatusOr) and records it as operation `op`.
template <typename Fn>
auto Tracked(StoreMetrics* metrics, absl::string_view op, Fn&& fn) -> decltype(fn()) {
  if (metrics == nullptr) return fn();
  const auto start = std::chrono::steady_clock::now();
  auto result = fn();
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  metrics->RecordOperation(op, StatusOf(result).code(), elapsed.count());
  return result;
}

// Calls `refresh` every `interval` on its own thread until destroyed (which stops and
// joins the thread).
class StatsRefresher {
 public:
  StatsRefresher(absl::Duration interval, std::function<void()> refresh);
  StatsRefresher(const StatsRefresher&) = delete;
  StatsRefresher& operator=(const StatsRefresher&) = delete;
  ~StatsRefresher();

 private:
  void Loop();

  const absl::Duration interval_;
  const std::function<void()> refresh_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace vmle::memory::internal
