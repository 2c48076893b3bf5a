// The agent's connection to the memory service, its system of record. Every call
// has a deadline and is retried with capped exponential backoff while the service is
// unreachable (UNAVAILABLE, DEADLINE_EXCEEDED), a bounded number of times, so a
// memory service that restarts delays the agent and one that hangs cannot hold it.
// Writes are safe to retry: puts replace, re-appended events are no-ops, and a
// versioned commit whose first try landed is recognised (ABORTED, and the stored study
// is exactly the one written).
//
// Thread-safe. Errors: the memory service's codes (memory_service.proto); UNAVAILABLE
// once Options::max_attempts tries failed — the write's outcome is then unknown.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "vmle/v1/memory_service.grpc.pb.h"

namespace vmle::agent {

class MemoryClient {
 public:
  struct Options {
    // Deadline of one call.
    absl::Duration call_timeout = absl::Milliseconds(1500);
    // Tries per call while the service is unreachable; 0 retries until Shutdown().
    int max_attempts = 3;
    // Backoff between tries: initial, doubled up to max.
    absl::Duration initial_backoff = absl::Milliseconds(50);
    absl::Duration max_backoff = absl::Seconds(2);
  };

  MemoryClient(std::shared_ptr<grpc::Channel> channel, Options options);

  // A client on the same channel with other options, e.g. one quick try for a lookup
  // that answers a user. Shutdown() does not reach it.
  std::unique_ptr<MemoryClient> WithOptions(Options options) const;

  // Makes every retrying call give up (UNAVAILABLE) at its next try.
  void Shutdown();

  // Whether the memory service answers its health check as SERVING within
  // `timeout` (one try): the agent's readiness.
  bool Reachable(absl::Duration timeout);

  absl::StatusOr<vmle::v1::Study> GetStudy(const std::string& study_id);
  // All studies in `states` (all when empty), following pages.
  absl::StatusOr<std::vector<vmle::v1::Study>> ListStudies(
      const std::vector<vmle::v1::StudyState>& states);
  // All trials of a study in number order, following pages.
  absl::StatusOr<std::vector<vmle::v1::Trial>> ListTrials(const std::string& study_id);
  // Writes the trials (of the study, each with its own number), the study (expected
  // version checked when > 0) and the events in one transaction; returns the study's
  // new version.
  absl::StatusOr<int64_t> Commit(absl::Span<const vmle::v1::Trial> trials, const vmle::v1::Study& study,
                                 const std::vector<vmle::v1::StudyEvent>& events, int64_t expected_version);
  // The same with one trial, or none when `trial` is null.
  absl::StatusOr<int64_t> Commit(const vmle::v1::Trial* trial, const vmle::v1::Study& study,
                                 const std::vector<vmle::v1::StudyEvent>& events, int64_t expected_version) {
    return Commit(absl::Span<const vmle::v1::Trial>(trial, trial == nullptr ? 0 : 1), study, events,
                  expected_version);
  }
  // Every event of a study after `after_sequence`, following pages.
  absl::StatusOr<std::vector<vmle::v1::StudyEvent>> ListEvents(const std::string& study_id,
                                                               int64_t after_sequence);
  absl::Status PutReflection(const vmle::v1::Reflection& reflection);
  absl::StatusOr<std::vector<vmle::v1::Reflection>> ListReflections(const std::string& study_id);
  absl::Status PutInsights(const vmle::v1::WorkingInsights& insights);
  // NOT_FOUND when the study has none yet.
  absl::StatusOr<vmle::v1::WorkingInsights> GetInsights(const std::string& study_id);
  absl::StatusOr<std::string> PutCognitionSummary(const vmle::v1::CognitionSummary& summary);
  absl::StatusOr<vmle::v1::CognitionSummary> GetCognitionSummary(const std::string& id);
  absl::StatusOr<std::vector<vmle::v1::ScoredCognitionSummary>> RetrieveCognition(
      vmle::v1::Backbone backbone, const vmle::v1::DatasetProfile& profile, int k);

 private:
  // Runs `call` (one RPC with a fresh context) until it succeeds, fails for a reason
  // other than unreachability, or the tries run out.
  template <typename Call>
  absl::Status Retry(const char* method, Call call);
  // After ABORTED on a versioned write of `study`: its new version when the stored
  // study is the one written (an earlier try landed), else `aborted`.
  absl::StatusOr<int64_t> LandedOr(const vmle::v1::Study& study, int64_t expected_version,
                                   const absl::Status& aborted);

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<vmle::v1::MemoryService::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
  const Options options_;
  std::atomic<bool> shutdown_{false};
};

}  // namespace vmle::agent
