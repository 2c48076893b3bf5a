// MemoryStore: VirtualMLE's system of record and the agent's hierarchical memory, on
// RocksDB. It is the core of vmle-memory; the gRPC service is a thin adapter over it,
// and an embedded deployment may use it directly. Requests and replies are the
// MemoryService messages (protos/vmle/v1/memory_service.proto).
//
// What it keeps, one column family per kind, every value a serialized protobuf:
//   studies      study id                        -> Study
//   trials       study id, trial number (BE32)   -> Trial          (L0 trial log)
//   trial_ids    study id, trial id              -> trial number   (index)
//   events       study id, sequence (BE64)       -> StudyEvent
//   reflections  study id, trial number (BE32)   -> Reflection     (L1)
//   insights     study id                        -> WorkingInsights (L2, bounded)
//   cognition    summary id                      -> CognitionSummary (L3)
//   meta         "format"                        -> "vmle.memory.v1" (our marker)
// Keys put a study's records next to each other in trial-number and sequence order, so
// lists are ordered scans.
//
// Durability: a write returns OK only once it is in the write-ahead log, fsynced when
// MemoryStoreOptions::sync_writes (the default). Every write is one RocksDB
// transaction: a CommitTrialResult stores its trial, study and events all or nothing.
// A write that fails (e.g. INTERNAL after a failed log sync, after which RocksDB
// refuses writes until reopened) may still have reached the log: its outcome is
// unknown, as for any failed call. Retrying is safe: puts replace, re-appending an
// event is a no-op, and a versioned write answers ABORTED if its first try landed.
//
// Concurrency: every method is thread-safe. Writes lock the records they read before
// deciding (pessimistic transactions), so writers of different records of one study
// run in parallel and share WAL syncs. A study carries a version: a PutStudy or
// CommitTrialResult naming an expected version fails with ABORTED when the stored one
// differs (optimistic concurrency between agents).
//
// Errors (absl::Status codes, the gRPC codes the service returns):
//   INVALID_ARGUMENT     malformed or oversized record; the message names the field,
//                        e.g. "study.id: must be non-empty".
//   NOT_FOUND            unknown study, trial or summary id.
//   ALREADY_EXISTS       a trial number or event sequence already holds another record;
//                        a backup directory that exists.
//   ABORTED              version mismatch, or a record stayed locked by a concurrent
//                        write past MemoryStoreOptions::lock_timeout: re-read and retry.
//   FAILED_PRECONDITION  (Open) a directory that is not ours or is locked by another
//                        process; (Backup) backups off (no backup root), or a parent
//                        directory that does not exist.
//   INTERNAL, DATA_LOSS, RESOURCE_EXHAUSTED  RocksDB I/O errors, corruption, full disk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/memory/store/retrieval.h"
#include "vmle/v1/memory_service.pb.h"

namespace prometheus {
class Registry;
}  // namespace prometheus
namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace vmle::memory {

namespace internal {
class Database;
class StatsRefresher;
class StoreMetrics;
}  // namespace internal

struct MemoryStoreOptions {
  // RocksDB directory. Created when missing or empty; any other directory must hold a
  // database this store created, or Open fails with FAILED_PRECONDITION.
  std::string path;
  // Fsync the write-ahead log before a write is acknowledged. Off, a write survives a
  // process crash but not a power loss.
  bool sync_writes = true;
  // Largest serialized record (study, trial, event, reflection, insights, summary).
  size_t max_record_bytes = 4 << 20;
  // Largest number of entries in a study's working insights (L2 is bounded).
  int max_insights = 64;
  // Largest number of events in one AppendEvents or CommitTrialResult.
  int max_events_per_write = 10000;
  // How long a write waits for a record another write holds before ABORTED.
  absl::Duration lock_timeout = absl::Seconds(5);
  // Backup writes only below this directory (created on first use); empty: backups off.
  std::string backup_root;
  // How RetrieveCognition weighs the dataset-profile features.
  RetrievalOptions retrieval;
  // When set, the vmle_memory_* metrics are registered here; must outlive the store.
  prometheus::Registry* metrics = nullptr;
  // How often vmle_memory_db_bytes is refreshed in the background (with metrics only).
  absl::Duration stats_refresh_interval = absl::Seconds(15);
  // RocksDB's environment (files, threads, clock); null: the default. Tests wrap the
  // default one to inject faults. Must outlive the store.
  rocksdb::Env* env = nullptr;
};

class MemoryStore {
 public:
  // Opens (or creates) the database at options.path.
  static absl::StatusOr<std::unique_ptr<MemoryStore>> Open(const MemoryStoreOptions& options);

  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;
  ~MemoryStore();

  // Studies. PutStudy stores the study with version = stored version + 1 (1 when new),
  // ignoring the version the caller set. expected_version > 0 must equal the stored
  // version (ABORTED otherwise, NOT_FOUND when there is no study).
  absl::StatusOr<v1::PutStudyResponse> PutStudy(const v1::PutStudyRequest& request);
  absl::StatusOr<v1::Study> GetStudy(const v1::GetStudyRecordRequest& request);
  // In id order; page_size defaults to 100 (at most 1000); the token is opaque.
  absl::StatusOr<v1::ListStudyRecordsResponse> ListStudies(
      const v1::ListStudyRecordsRequest& request);

  // L0 trial log. A trial's study must exist. A trial id keeps its number for life and
  // a number belongs to one trial id (ALREADY_EXISTS otherwise); a PutTrial with the
  // same id and number replaces the record.
  absl::StatusOr<v1::PutTrialResponse> PutTrial(const v1::PutTrialRequest& request);
  absl::StatusOr<v1::Trial> GetTrial(const v1::GetTrialRequest& request);
  // In trial-number order; page_size defaults to 100 (at most 1000).
  absl::StatusOr<v1::ListTrialRecordsResponse> ListTrials(
      const v1::ListTrialRecordsRequest& request);
  // The trial, its study (version + 1, checked against expected_study_version when
  // > 0) and the events, atomically. The study must exist when a trial is given;
  // without one, the study and its events are stored together (a new study too).
  absl::StatusOr<v1::CommitTrialResultResponse> CommitTrialResult(
      const v1::CommitTrialResultRequest& request);

  // Study events. Sequences must be positive and increase within a request. Appending
  // an event that is already stored unchanged is a no-op (a retried append succeeds).
  absl::StatusOr<v1::AppendEventsResponse> AppendEvents(const v1::AppendEventsRequest& request);
  // Events with sequence > after_sequence, in order; limit defaults to 1000 (at most
  // 10000).
  absl::StatusOr<v1::ListEventsResponse> ListEvents(const v1::ListEventsRequest& request);

  // L1: one reflection per trial (replaced on a second put). Its trial must exist; a
  // trial_number of 0 is filled in from the trial.
  absl::StatusOr<v1::PutReflectionResponse> PutReflection(const v1::PutReflectionRequest& request);
  absl::StatusOr<v1::ListReflectionsResponse> ListReflections(
      const v1::ListReflectionsRequest& request);
  // L2: the study's insight list, replaced as a whole, at most max_insights entries.
  // GetInsights of a study that has none yet returns an empty list.
  absl::StatusOr<v1::PutInsightsResponse> PutInsights(const v1::PutInsightsRequest& request);
  absl::StatusOr<v1::WorkingInsights> GetInsights(const v1::GetInsightsRequest& request);

  // L3 cognition summaries. An empty id is assigned ("cs-" and 16 hex digits) and an
  // unset created_at stamped; a summary with a stored id replaces it.
  absl::StatusOr<v1::PutCognitionSummaryResponse> PutCognitionSummary(
      const v1::PutCognitionSummaryRequest& request);
  absl::StatusOr<v1::CognitionSummary> GetCognitionSummary(
      const v1::GetCognitionSummaryRequest& request);
  // In id order; BACKBONE_UNSPECIFIED lists every backbone.
  absl::StatusOr<v1::ListCognitionSummariesResponse> ListCognitionSummaries(
      const v1::ListCognitionSummariesRequest& request);
  // The k (default 3, at most 100) summaries of the backbone (any when unspecified)
  // nearest the profile, nearest first, scored as in retrieval.h.
  absl::StatusOr<v1::RetrieveCognitionResponse> RetrieveCognition(
      const v1::RetrieveCognitionRequest& request);
  // Summaries of the backbone (all when unspecified) as the JSON of cognition_json.h.
  absl::StatusOr<v1::ExportCognitionResponse> ExportCognition(
      const v1::ExportCognitionRequest& request);
  // Validates the whole document first, then stores it in one write: all or nothing.
  absl::StatusOr<v1::ImportCognitionResponse> ImportCognition(
      const v1::ImportCognitionRequest& request);

  // An online, consistent copy (RocksDB checkpoint: hard links where possible) in a new
  // directory, openable with Open. The path names it relative to the backup root and
  // must not exist yet; INVALID_ARGUMENT for an absolute path, "." or "..", or a
  // symbolic link that leads out of the root. The response's path is relative to the root.
  absl::StatusOr<v1::BackupResponse> Backup(const v1::BackupRequest& request);
  // Exact record counts per kind and the bytes of the database directory.
  absl::StatusOr<v1::GetStatsResponse> GetStats(const v1::GetStatsRequest& request);

  const std::string& path() const { return options_.path; }

 private:
  MemoryStore(MemoryStoreOptions options, std::unique_ptr<internal::Database> db);

  absl::StatusOr<v1::Study> LoadStudy(absl::string_view study_id) const;
  absl::StatusOr<v1::Trial> LoadTrial(absl::string_view study_id, absl::string_view trial_id) const;
  void PublishRecordCounts() const;

  const MemoryStoreOptions options_;
  std::unique_ptr<internal::Database> db_;
  // Null when options_.metrics is null.
  std::unique_ptr<internal::StoreMetrics> metrics_;
  // Refreshes vmle_memory_db_bytes; stopped and joined before db_ goes away.
  std::unique_ptr<internal::StatsRefresher> refresher_;
};

}  // namespace vmle::memory
