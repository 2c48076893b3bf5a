// A RocksDB file system whose write-ahead-log syncs take longer and are counted: a
// slow disk for fault benchmarks (bench/scheduler --memory_delay_ms) and tests of the
// memory store's group commit (concurrent synced writes sharing one WAL sync).
//
// Thread-safe. Wrap it in an Env with rocksdb::NewCompositeEnv and pass that as
// MemoryStoreOptions::env; the file system must outlive the store.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "rocksdb/file_system.h"

namespace vmle::memory {

class SlowSyncFileSystem : public rocksdb::FileSystemWrapper {
 public:
  // `delay`: added to every Sync/Fsync of a WAL file (*.log); zero counts only.
  explicit SlowSyncFileSystem(absl::Duration delay);
  const char* Name() const override { return "SlowSyncFileSystem"; }
  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* file,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* file,
                                       rocksdb::IODebugContext* dbg) override;

  // WAL syncs so far (counted as each one's delay ends).
  int64_t wal_syncs() const { return wal_syncs_->load(); }

 private:
  rocksdb::IOStatus Wrap(const std::string& name, rocksdb::IOStatus s, std::unique_ptr<rocksdb::FSWritableFile>* file);

  absl::Duration delay_;
  std::shared_ptr<std::atomic<int64_t>> wal_syncs_ = std::make_shared<std::atomic<int64_t>>(0);
};

}  // namespace vmle::memory
