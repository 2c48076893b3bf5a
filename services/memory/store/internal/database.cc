#include "services/memory/store/internal/database.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"
#include "rocksdb/utilities/checkpoint.h"
#include "rocksdb/utilities/transaction.h"
#include "rocksdb/utilities/transaction_db.h"

namespace vmle::memory::internal {
namespace {

namespace fs = std::filesystem;

constexpr absl::string_view kFamilyNames[kFamilyCount] = {
    "studies", "trials", "trial_ids", "events", "reflections", "insights", "cognition", "meta"};
constexpr absl::string_view kFormatKey = "format";

rocksdb::Slice ToSlice(absl::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

// A RocksDB status as an absl::Status with `context` ("reading trials", ...) in front.
absl::Status FromRocks(const rocksdb::Status& s, absl::string_view context) {
  if (s.ok()) return absl::OkStatus();
  const std::string message = absl::StrCat(context, ": ", s.ToString());
  if (s.IsTimedOut() || s.IsBusy() || s.IsTryAgain()) return absl::AbortedError(message);
  if (s.IsCorruption()) return absl::DataLossError(message);
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(message);
  if (s.IsNotFound()) return absl::NotFoundError(message);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(message);
  return absl::InternalError(message);
}

absl::Status NotOurs(const std::string& path, absl::string_view why) {
  return absl::FailedPreconditionError(absl::StrCat(
      "--db '", path, "' is not a vmle-memory database: ", why,
      ". Point --db at a new or empty directory, or at a directory vmle-memory created."));
}

// Whether `path` is missing or an empty directory (a database is created there).
absl::StatusOr<bool> IsFresh(const std::string& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) {
    fs::create_directories(path, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("--db '", path, "': cannot create the directory: ", ec.message()));
    }
    return true;
  }
  if (!fs::is_directory(status)) {
    return absl::FailedPreconditionError(absl::StrCat("--db '", path, "' is not a directory"));
  }
  const bool empty = fs::is_empty(path, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("--db '", path, "': cannot read the directory: ", ec.message()));
  }
  return empty;
}

// Checks that an existing directory holds a RocksDB with exactly our column families.
absl::Status CheckFamilies(const std::string& path, rocksdb::Env* env) {
  std::vector<std::string> existing;
  rocksdb::DBOptions options;
  if (env != nullptr) options.env = env;
  const rocksdb::Status s = rocksdb::DB::ListColumnFamilies(options, path, &existing);
  if (!s.ok()) return NotOurs(path, "it holds files but no RocksDB database");
  for (absl::string_view name : kFamilyNames) {
    if (std::find(existing.begin(), existing.end(), name) == existing.end()) {
      return NotOurs(path, absl::StrCat("a RocksDB database without the '", name,
                                        "' column family (another application's?)"));
    }
  }
  for (const std::string& name : existing) {
    if (name != rocksdb::kDefaultColumnFamilyName &&
        std::find(std::begin(kFamilyNames), std::end(kFamilyNames), name) ==
            std::end(kFamilyNames)) {
      return NotOurs(path,
                     absl::StrCat("a RocksDB database with an unknown column family '", name, "'"));
    }
  }
  return absl::OkStatus();
}

absl::Status OpenError(const std::string& path, const rocksdb::Status& s) {
  if (s.IsIOError() && absl::StrContains(absl::AsciiStrToLower(s.ToString()), "lock")) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--db '", path,
        "' is locked by another process (is another vmle-memory serving it?): ", s.ToString()));
  }
  return FromRocks(s, absl::StrCat("opening --db '", path, "'"));
}

}  // namespace

int64_t DirectoryBytes(const std::string& dir) {
  int64_t bytes = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    // Files come and go with compactions; one that vanished counts 0.
    if (it->is_regular_file(size_ec)) {
      const auto size = it->file_size(size_ec);
      if (!size_ec) bytes += static_cast<int64_t>(size);
    }
  }
  return bytes;
}

absl::string_view FamilyName(Family family) { return kFamilyNames[static_cast<int>(family)]; }

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const DatabaseOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("--db: must be non-empty");
  const std::string& path = options.path;
  absl::StatusOr<bool> fresh = IsFresh(path);
  if (!fresh.ok()) return fresh.status();
  if (!*fresh) {
    if (absl::Status s = CheckFamilies(path, options.env); !s.ok()) return s;
  }

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = *fresh;
  db_options.create_missing_column_families = *fresh;
  db_options.keep_log_file_num = 10;
  if (options.env != nullptr) db_options.env = options.env;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (absl::string_view name : kFamilyNames) {
    descriptors.emplace_back(std::string(name), rocksdb::ColumnFamilyOptions());
  }
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  rocksdb::TransactionDBOptions txn_options;
  txn_options.transaction_lock_timeout = absl::ToInt64Milliseconds(options.lock_timeout);
  rocksdb::TransactionDB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  const rocksdb::Status s =
      rocksdb::TransactionDB::Open(db_options, txn_options, path, descriptors, &handles, &raw);
  if (!s.ok()) return OpenError(path, s);
  std::unique_ptr<Database> db(new Database(options, raw, std::move(handles)));

  if (absl::Status counted = db->CountRecords(); !counted.ok()) return counted;
  absl::StatusOr<std::optional<std::string>> marker = db->Get(Family::kMeta, kFormatKey);
  if (!marker.ok()) return marker.status();
  if (!marker->has_value()) {
    // A database this code created always has the marker, except when the process died
    // between creating it and writing the marker: then it is still empty.
    int64_t records = 0;
    for (int f = 0; f < kFamilyCount; ++f) records += db->Count(static_cast<Family>(f));
    if (!*fresh && records > 0) return NotOurs(path, "it has no vmle-memory format marker");
    std::unique_ptr<WriteTxn> txn = db->Begin();
    if (absl::Status st = txn->GetForUpdate(Family::kMeta, kFormatKey).status(); !st.ok()) {
      return st;
    }
    if (absl::Status st = txn->Put(Family::kMeta, kFormatKey, kFormatMarker); !st.ok()) return st;
    if (absl::Status st = txn->Commit(); !st.ok()) return st;
  } else if (**marker != kFormatMarker) {
    return absl::FailedPreconditionError(
        absl::StrCat("--db '", path, "' holds format '", absl::CHexEscape(**marker),
                     "'; this vmle-memory reads and writes '", kFormatMarker, "'"));
  }
  return db;
}

Database::Database(DatabaseOptions options, rocksdb::TransactionDB* db,
                   std::vector<rocksdb::ColumnFamilyHandle*> handles)
    : options_(std::move(options)), db_(db), handles_(std::move(handles)) {}

Database::~Database() {
  for (rocksdb::ColumnFamilyHandle* h : handles_) db_->DestroyColumnFamilyHandle(h);
  delete db_;
}

rocksdb::ColumnFamilyHandle* Database::handle(Family family) const {
  return handles_[static_cast<int>(family)];
}

absl::Status Database::CountRecords() {
  for (int f = 0; f < kFamilyCount; ++f) {
    int64_t n = 0;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handles_[f]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
    if (!it->status().ok()) {
      return FromRocks(it->status(), absl::StrCat("counting ", kFamilyNames[f]));
    }
    counts_[f].store(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> Database::Get(Family family,
                                                         absl::string_view key) const {
  std::string value;
  const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), handle(family), ToSlice(key), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return FromRocks(s, absl::StrCat("reading ", FamilyName(family)));
  return std::optional<std::string>(std::move(value));
}

absl::Status Database::Scan(Family family, absl::string_view prefix, absl::string_view start,
                            const Visitor& visit) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handle(family)));
  for (it->Seek(ToSlice(std::max(prefix, start))); it->Valid(); it->Next()) {
    const rocksdb::Slice key = it->key();
    if (!key.starts_with(ToSlice(prefix))) break;
    if (!visit(absl::string_view(key.data(), key.size()),
               absl::string_view(it->value().data(), it->value().size()))) {
      break;
    }
  }
  return FromRocks(it->status(), absl::StrCat("scanning ", FamilyName(family)));
}

std::unique_ptr<WriteTxn> Database::Begin() {
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync_writes;
  std::unique_ptr<rocksdb::Transaction> txn(db_->BeginTransaction(write_options));
  return std::unique_ptr<WriteTxn>(new WriteTxn(this, std::move(txn)));
}

int64_t Database::Count(Family family) const { return counts_[static_cast<int>(family)].load(); }

int64_t Database::BytesOnDisk() const { return DirectoryBytes(options_.path); }

absl::Status Database::CreateCheckpoint(const std::string& dir) {
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(db_, &raw);
  if (!s.ok()) return FromRocks(s, "creating a checkpoint");
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // log_size_for_flush 0: flush the memtables first, so the copy is all SST files.
  s = checkpoint->CreateCheckpoint(dir, /*log_size_for_flush=*/0);
  return FromRocks(s, absl::StrCat("writing a checkpoint to '", dir, "'"));
}

WriteTxn::WriteTxn(Database* db, std::unique_ptr<rocksdb::Transaction> txn)
    : db_(db), txn_(std::move(txn)) {}

WriteTxn::~WriteTxn() = default;

absl::StatusOr<std::optional<std::string>> WriteTxn::GetForUpdate(Family family,
                                                                  absl::string_view key) {
  std::string value;
  const rocksdb::Status s =
      txn_->GetForUpdate(rocksdb::ReadOptions(), db_->handle(family), ToSlice(key), &value);
  if (s.IsNotFound()) {
    absent_.emplace(family, std::string(key));
    return std::nullopt;
  }
  if (s.IsTimedOut() || s.IsBusy()) {
    return absl::AbortedError(absl::StrCat("a concurrent write holds ", FamilyName(family),
                                           " record '", absl::CHexEscape(key),
                                           "'; retry the request"));
  }
  if (!s.ok()) return FromRocks(s, absl::StrCat("reading ", FamilyName(family)));
  return std::optional<std::string>(std::move(value));
}

absl::Status WriteTxn::Put(Family family, absl::string_view key, absl::string_view value) {
  const rocksdb::Status s = txn_->Put(db_->handle(family), ToSlice(key), ToSlice(value));
  if (!s.ok()) return FromRocks(s, absl::StrCat("writing ", FamilyName(family)));
  if (absent_.erase({family, std::string(key)}) > 0) ++added_[static_cast<int>(family)];
  return absl::OkStatus();
}

absl::Status WriteTxn::Commit() {
  const rocksdb::Status s = txn_->Commit();
  if (!s.ok()) return FromRocks(s, "committing a write");
  for (int f = 0; f < kFamilyCount; ++f) db_->counts_[f] += added_[f];
  added_.fill(0);
  return absl::OkStatus();
}

}  // namespace vmle::memory::internal
