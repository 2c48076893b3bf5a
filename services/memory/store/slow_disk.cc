#include "services/memory/store/slow_disk.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/time/clock.h"

namespace vmle::memory {
namespace {

class SlowSyncFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  SlowSyncFile(std::unique_ptr<rocksdb::FSWritableFile> file, absl::Duration delay,
               std::shared_ptr<std::atomic<int64_t>> syncs)
      : FSWritableFileOwnerWrapper(std::move(file)), delay_(delay), syncs_(std::move(syncs)) {}
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    Slow();
    return FSWritableFileOwnerWrapper::Sync(options, dbg);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    Slow();
    return FSWritableFileOwnerWrapper::Fsync(options, dbg);
  }

 private:
  void Slow() {
    if (delay_ > absl::ZeroDuration()) absl::SleepFor(delay_);
    syncs_->fetch_add(1);
  }

  absl::Duration delay_;
  std::shared_ptr<std::atomic<int64_t>> syncs_;
};

}  // namespace

SlowSyncFileSystem::SlowSyncFileSystem(absl::Duration delay)
    : FileSystemWrapper(rocksdb::FileSystem::Default()), delay_(delay) {}

rocksdb::IOStatus SlowSyncFileSystem::Wrap(const std::string& name, rocksdb::IOStatus s,
                                           std::unique_ptr<rocksdb::FSWritableFile>* file) {
  if (s.ok() && absl::EndsWith(name, ".log")) {
    *file = std::make_unique<SlowSyncFile>(std::move(*file), delay_, wal_syncs_);
  }
  return s;
}

rocksdb::IOStatus SlowSyncFileSystem::NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                                      std::unique_ptr<rocksdb::FSWritableFile>* file,
                                                      rocksdb::IODebugContext* dbg) {
  return Wrap(name, target()->NewWritableFile(name, options, file, dbg), file);
}

rocksdb::IOStatus SlowSyncFileSystem::ReopenWritableFile(const std::string& name,
                                                         const rocksdb::FileOptions& options,
                                                         std::unique_ptr<rocksdb::FSWritableFile>* file,
                                                         rocksdb::IODebugContext* dbg) {
  return Wrap(name, target()->ReopenWritableFile(name, options, file, dbg), file);
}

}  // namespace vmle::memory
