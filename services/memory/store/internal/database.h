// The RocksDB underneath MemoryStore: opening (with the checks that a directory is
// ours and not locked), the column families, reads, prefix scans, write transactions,
// exact record counts, checkpoints. Private to the memory store.
//
// Thread-safety: Database is thread-safe; a WriteTxn belongs to one thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace rocksdb {
class ColumnFamilyHandle;
class Env;
class Transaction;
class TransactionDB;
}  // namespace rocksdb

namespace vmle::memory::internal {

// The column families, one per kind of record (see memory_store.h for their keys).
enum class Family : int {
  kStudies = 0,
  kTrials,
  kTrialIds,
  kEvents,
  kReflections,
  kInsights,
  kCognition,
  kMeta,
};
inline constexpr int kFamilyCount = 8;

// The column family's name in RocksDB, e.g. "trials".
absl::string_view FamilyName(Family family);

// Bytes of every regular file below `dir` (0 for files that vanish meanwhile).
int64_t DirectoryBytes(const std::string& dir);

// The value of the meta "format" key of a database this code reads and writes.
inline constexpr char kFormatMarker[] = "vmle.memory.v1";

struct DatabaseOptions {
  // The database directory.
  std::string path;
  // Fsync the WAL on every commit.
  bool sync_writes = true;
  // How long a transaction waits for a key another one has locked.
  absl::Duration lock_timeout = absl::Seconds(5);
  // Null: rocksdb::Env::Default().
  rocksdb::Env* env = nullptr;
};

class WriteTxn;

class Database {
 public:
  // Creates the database in a missing or empty directory; otherwise opens it if it is
  // ours. FAILED_PRECONDITION for a directory that is not ours (files but no RocksDB,
  // a RocksDB without our column families and marker, another format version), a
  // database another process holds open, or a path that is not a directory.
  static absl::StatusOr<std::unique_ptr<Database>> Open(const DatabaseOptions& options);

  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // The value at `key`, or nullopt.
  absl::StatusOr<std::optional<std::string>> Get(Family family, absl::string_view key) const;

  // Calls `visit` for each key that starts with `prefix`, in key order, beginning at
  // the first key >= max(prefix, start), until `visit` returns false. One consistent
  // snapshot.
  using Visitor = std::function<bool(absl::string_view key, absl::string_view value)>;
  absl::Status Scan(Family family, absl::string_view prefix, absl::string_view start,
                    const Visitor& visit) const;

  // A new transaction; nothing is visible to others until its Commit.
  std::unique_ptr<WriteTxn> Begin();

  // Exact number of records in `family`.
  int64_t Count(Family family) const;
  // Bytes of every file in the database directory.
  int64_t BytesOnDisk() const;
  // A consistent copy of the database in `dir` (must not exist; its parent must).
  absl::Status CreateCheckpoint(const std::string& dir);

  const std::string& path() const { return options_.path; }

 private:
  friend class WriteTxn;
  Database(DatabaseOptions options, rocksdb::TransactionDB* db,
           std::vector<rocksdb::ColumnFamilyHandle*> handles);
  absl::Status CountRecords();
  rocksdb::ColumnFamilyHandle* handle(Family family) const;

  const DatabaseOptions options_;
  rocksdb::TransactionDB* db_;  // owned; deleted after handles_
  // Owned; index i is Family i, the last is the default column family.
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::array<std::atomic<int64_t>, kFamilyCount> counts_{};
};

// A pessimistic transaction: GetForUpdate locks a key (present or not) until Commit or
// destruction, so checks made on what it read still hold when the writes land.
// Callers lock keys in one global order (study, trial id, trial number, events by
// sequence) so transactions cannot deadlock. Abandoned on destruction unless
// committed.
class WriteTxn {
 public:
  ~WriteTxn();
  WriteTxn(const WriteTxn&) = delete;
  WriteTxn& operator=(const WriteTxn&) = delete;

  // Locks `key` and reads its latest committed value (nullopt when absent). ABORTED
  // when another transaction holds the key past the lock timeout.
  absl::StatusOr<std::optional<std::string>> GetForUpdate(Family family, absl::string_view key);
  // Writes `value` at `key`, which GetForUpdate must have locked (so the record
  // counts stay exact).
  absl::Status Put(Family family, absl::string_view key, absl::string_view value);
  // Makes every write visible and durable at once.
  absl::Status Commit();

 private:
  friend class Database;
  WriteTxn(Database* db, std::unique_ptr<rocksdb::Transaction> txn);

  Database* db_;
  std::unique_ptr<rocksdb::Transaction> txn_;
  // Keys GetForUpdate found absent: a Put there adds a record.
  std::set<std::pair<Family, std::string>> absent_;
  std::array<int64_t, kFamilyCount> added_{};
};

}  // namespace vmle::memory::internal
