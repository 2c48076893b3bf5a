#include "services/memory/store/internal/store_metrics.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace vmle::memory::internal {
namespace {

// From 50 microseconds (a cached read) to 5 seconds (a backup of a large database).
prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
          0.025,   0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0};
}

}  // namespace

StoreMetrics::StoreMetrics(prometheus::Registry& registry)
    : operations_(prometheus::BuildCounter()
                      .Name("vmle_memory_operations_total")
                      .Help("Memory store operations by kind and outcome (status code)")
                      .Register(registry)),
      latency_(prometheus::BuildHistogram()
                   .Name("vmle_memory_operation_seconds")
                   .Help("Latency of memory store operations")
                   .Register(registry)),
      records_(prometheus::BuildGauge()
                   .Name("vmle_memory_records")
                   .Help("Records in the memory store by kind")
                   .Register(registry)),
      db_bytes_(prometheus::BuildGauge()
                    .Name("vmle_memory_db_bytes")
                    .Help("Bytes of the RocksDB directory")
                    .Register(registry)
                    .Add({})) {}

void StoreMetrics::RecordOperation(absl::string_view op, absl::StatusCode code, double seconds) {
  const std::string outcome = absl::StatusCodeToString(code);
  prometheus::Histogram* histogram = nullptr;
  prometheus::Counter* counter = nullptr;
  {
    absl::MutexLock lock(&mu_);
    auto [h, new_op] = latency_by_op_.try_emplace(op, nullptr);
    if (new_op) h->second = &latency_.Add({{"op", std::string(op)}}, LatencyBuckets());
    histogram = h->second;
    auto [c, new_pair] = count_by_op_outcome_.try_emplace(absl::StrCat(op, "/", outcome), nullptr);
    if (new_pair) c->second = &operations_.Add({{"op", std::string(op)}, {"outcome", outcome}});
    counter = c->second;
  }
  histogram->Observe(seconds);
  counter->Increment();
}

void StoreMetrics::SetRecords(absl::string_view kind, int64_t count) {
  records_.Add({{"kind", std::string(kind)}}).Set(static_cast<double>(count));
}

void StoreMetrics::SetDbBytes(int64_t bytes) { db_bytes_.Set(static_cast<double>(bytes)); }

StatsRefresher::StatsRefresher(absl::Duration interval, std::function<void()> refresh)
    : interval_(interval), refresh_(std::move(refresh)), thread_([this] { Loop(); }) {}

StatsRefresher::~StatsRefresher() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void StatsRefresher::Loop() {
  absl::MutexLock lock(&mu_);
  while (!mu_.AwaitWithTimeout(absl::Condition(&stop_), interval_)) {
    mu_.Unlock();
    refresh_();
    mu_.Lock();
  }
}

}  // namespace vmle::memory::internal
