// MemoryStore: opening, record loads, backup and stats. Studies, trials and events are
// in memory_store_studies.cc; reflections, insights and cognition summaries in
// memory_store_memory.cc.
#include "services/memory/store/memory_store.h"

#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status/message.h"
#include "common/status/status_macros.h"
#include "services/memory/store/internal/database.h"
#include "services/memory/store/internal/keys.h"
#include "services/memory/store/internal/records.h"
#include "services/memory/store/internal/store_metrics.h"

namespace vmle::memory {
namespace {

namespace fs = std::filesystem;
using internal::Family;

// The kinds GetStats and vmle_memory_records report, and their column families.
constexpr std::pair<absl::string_view, Family> kReportedKinds[] = {
    {"studies", Family::kStudies},   {"trials", Family::kTrials},
    {"events", Family::kEvents},     {"reflections", Family::kReflections},
    {"insights", Family::kInsights}, {"cognition", Family::kCognition},
};

absl::Status ValidateOptions(const MemoryStoreOptions& o) {
  if (o.max_record_bytes == 0) return absl::InvalidArgumentError("max_record_bytes: must be > 0");
  if (o.max_insights <= 0) return absl::InvalidArgumentError("max_insights: must be > 0");
  if (o.max_events_per_write <= 0) {
    return absl::InvalidArgumentError("max_events_per_write: must be > 0");
  }
  if (o.lock_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("lock_timeout: must be > 0");
  }
  if (o.metrics != nullptr && o.stats_refresh_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("stats_refresh_interval: must be > 0");
  }
  return absl::OkStatus();
}

// Whether `path` is `root` or below it (both absolute and lexically normal).
bool IsUnder(const fs::path& path, fs::path root) {
  if (!root.has_filename()) root = root.parent_path();  // "/a/b/" is "/a/b"
  const fs::path relative = path.lexically_relative(root);
  return !relative.empty() && *relative.begin() != "..";
}

// The directory a backup goes to: `requested` names it relative to the backup root
// (no absolute path, no "." or ".."), its parent exists below the root even after
// symbolic links are resolved, it does not exist yet, and the root is outside the
// database. The root is created on first use.
absl::StatusOr<fs::path> BackupTarget(const std::string& requested, const std::string& db_path,
                                      const std::string& backup_root) {
  if (backup_root.empty()) {
    return absl::FailedPreconditionError("backups are off: start vmle-memory with --backup_root=DIR");
  }
  const std::string shown = TruncateForMessage(requested, 200);
  if (requested.empty()) {
    return internal::InvalidField("path", "must be non-empty: a directory name under the backup root");
  }
  const fs::path relative(requested);
  if (relative.has_root_path()) {
    return internal::InvalidField(
        "path", absl::StrCat("'", shown, "' must be relative to the backup root (e.g. nightly/2026-12-04)"));
  }
  for (const fs::path& part : relative) {
    if (part == "." || part == "..") {
      return internal::InvalidField("path", absl::StrCat("'", shown, "' must not contain '.' or '..'"));
    }
  }
  std::error_code ec;
  fs::create_directories(backup_root, ec);
  const fs::path root = fs::canonical(backup_root, ec);
  if (ec) return absl::FailedPreconditionError("the backup root cannot be used: " + ec.message());
  if (IsUnder(root, fs::weakly_canonical(fs::absolute(db_path), ec))) {
    return absl::FailedPreconditionError("the backup root is inside the database directory");
  }
  fs::path target = root / relative.lexically_normal();
  if (!target.has_filename()) target = target.parent_path();  // "name/"
  const fs::path parent = fs::canonical(target.parent_path(), ec);
  if (ec || !fs::is_directory(parent)) {
    return absl::FailedPreconditionError(
        absl::StrCat("path: the directory that would hold '", shown, "' does not exist under the backup root"));
  }
  if (!IsUnder(parent, root)) {
    return internal::InvalidField(
        "path", absl::StrCat("'", shown, "' leads outside the backup root through a symbolic link"));
  }
  target = parent / target.filename();
  if (fs::exists(fs::symlink_status(target, ec))) {
    return absl::AlreadyExistsError(
        absl::StrCat("path: '", shown, "' already exists; a backup goes to a new directory"));
  }
  return target;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MemoryStore>> MemoryStore::Open(const MemoryStoreOptions& options) {
  RETURN_IF_ERROR(ValidateOptions(options));
  internal::DatabaseOptions db_options;
  db_options.path = options.path;
  db_options.sync_writes = options.sync_writes;
  db_options.lock_timeout = options.lock_timeout;
  db_options.env = options.env;
  ASSIGN_OR_RETURN(std::unique_ptr<internal::Database> db, internal::Database::Open(db_options));
  return std::unique_ptr<MemoryStore>(new MemoryStore(options, std::move(db)));
}

MemoryStore::MemoryStore(MemoryStoreOptions options, std::unique_ptr<internal::Database> db)
    : options_(std::move(options)), db_(std::move(db)) {
  if (options_.metrics == nullptr) return;
  metrics_ = std::make_unique<internal::StoreMetrics>(*options_.metrics);
  PublishRecordCounts();
  metrics_->SetDbBytes(db_->BytesOnDisk());
  refresher_ = std::make_unique<internal::StatsRefresher>(
      options_.stats_refresh_interval, [this] { metrics_->SetDbBytes(db_->BytesOnDisk()); });
}

MemoryStore::~MemoryStore() {
  // The refresher reads db_; stop it first.
  refresher_.reset();
}

void MemoryStore::PublishRecordCounts() const {
  if (metrics_ == nullptr) return;
  for (const auto& [kind, family] : kReportedKinds) metrics_->SetRecords(kind, db_->Count(family));
}

absl::StatusOr<v1::Study> MemoryStore::LoadStudy(absl::string_view study_id) const {
  ASSIGN_OR_RETURN(std::optional<std::string> bytes, db_->Get(Family::kStudies, study_id));
  if (!bytes.has_value()) {
    return absl::NotFoundError(absl::StrCat("study '", study_id, "' not found"));
  }
  return internal::ParseRecord<v1::Study>(*bytes, absl::StrCat("study '", study_id, "'"));
}

absl::StatusOr<v1::Trial> MemoryStore::LoadTrial(absl::string_view study_id,
                                                 absl::string_view trial_id) const {
  ASSIGN_OR_RETURN(std::optional<std::string> index,
                   db_->Get(Family::kTrialIds, internal::TrialIdKey(study_id, trial_id)));
  if (!index.has_value()) {
    RETURN_IF_ERROR(LoadStudy(study_id).status());
    return absl::NotFoundError(
        absl::StrCat("trial '", trial_id, "' of study '", study_id, "' not found"));
  }
  const std::optional<int32_t> number = internal::DecodeTrialNumber(*index);
  if (!number.has_value()) {
    return absl::DataLossError(absl::StrCat("stored index of trial '", trial_id, "' is malformed"));
  }
  const std::string what = absl::StrCat("trial '", trial_id, "' of study '", study_id, "'");
  ASSIGN_OR_RETURN(std::optional<std::string> bytes,
                   db_->Get(Family::kTrials, internal::TrialKey(study_id, *number)));
  if (!bytes.has_value()) return absl::DataLossError(absl::StrCat(what, " is indexed but missing"));
  return internal::ParseRecord<v1::Trial>(*bytes, what);
}

absl::StatusOr<v1::BackupResponse> MemoryStore::Backup(const v1::BackupRequest& request) {
  return internal::Tracked(metrics_.get(), "backup", [&]() -> absl::StatusOr<v1::BackupResponse> {
    ASSIGN_OR_RETURN(const fs::path target,
                     BackupTarget(request.path(), options_.path, options_.backup_root));
    RETURN_IF_ERROR(db_->CreateCheckpoint(target.string()));
    v1::BackupResponse response;
    response.set_path(target.lexically_relative(fs::canonical(options_.backup_root)).string());
    response.set_bytes(internal::DirectoryBytes(target.string()));
    return response;
  });
}

absl::StatusOr<v1::GetStatsResponse> MemoryStore::GetStats(const v1::GetStatsRequest&) {
  return internal::Tracked(metrics_.get(), "stats", [&]() -> absl::StatusOr<v1::GetStatsResponse> {
    v1::GetStatsResponse response;
    for (const auto& [kind, family] : kReportedKinds) {
      (*response.mutable_records())[std::string(kind)] = db_->Count(family);
    }
    response.set_bytes_on_disk(db_->BytesOnDisk());
    if (metrics_ != nullptr) metrics_->SetDbBytes(response.bytes_on_disk());
    return response;
  });
}

}  // namespace vmle::memory
