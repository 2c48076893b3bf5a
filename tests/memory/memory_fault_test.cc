// MemoryStore on a RocksDB whose disk fails: a write whose log cannot be synced is
// not acknowledged, nothing after it is acknowledged either, and a retry on a healthy
// disk succeeds.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "services/memory/store/memory_store.h"
#include "tests/memory/memory_test_util.h"

namespace vmle::memory::testing {
namespace {

using absl::StatusCode;

// A write-ahead log file whose syncs fail while `*fail` is set.
class FailingSyncFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FailingSyncFile(std::unique_ptr<rocksdb::FSWritableFile> file, const std::atomic<bool>* fail)
      : FSWritableFileOwnerWrapper(std::move(file)), fail_(fail) {}
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    if (fail_->load()) return rocksdb::IOStatus::IOError("injected WAL sync failure");
    return FSWritableFileOwnerWrapper::Sync(options, dbg);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    if (fail_->load()) return rocksdb::IOStatus::IOError("injected WAL fsync failure");
    return FSWritableFileOwnerWrapper::Fsync(options, dbg);
  }

 private:
  const std::atomic<bool>* fail_;
};

// The default file system, with WAL syncs that fail on demand (a disk going bad).
class FailingSyncFileSystem : public rocksdb::FileSystemWrapper {
 public:
  FailingSyncFileSystem() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "FailingSyncFileSystem"; }
  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* file,
                                    rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->NewWritableFile(name, options, file, dbg);
    if (s.ok() && absl::EndsWith(name, ".log")) {
      *file = std::make_unique<FailingSyncFile>(std::move(*file), &fail);
    }
    return s;
  }

  std::atomic<bool> fail{false};
};

using FaultTest = StoreOnFileSystemTest<FailingSyncFileSystem>;

TEST_F(FaultTest, AWriteWhoseLogSyncFailsIsNotAcknowledged) {
  PutStudy(MakeStudy("st-1"));
  ASSERT_THAT(PutTrial(MakeTrial("st-1", 1)), IsOk());

  fs_->fail = true;
  EXPECT_THAT(PutTrial(MakeTrial("st-1", 2)),
              StatusIs(StatusCode::kInternal, "injected WAL sync failure"));
  // RocksDB stops taking writes after a failed log sync: later writes fail loudly
  // rather than being acknowledged behind a log that may have a hole.
  fs_->fail = false;
  EXPECT_FALSE(PutTrial(MakeTrial("st-1", 3)).ok());

  options_.env = nullptr;
  Reopen();
  EXPECT_THAT(GetTrial("st-1", "t-1"), IsOk());
  EXPECT_THAT(GetTrial("st-1", "t-3"), StatusIs(StatusCode::kNotFound, "t-3"));
  // The failed write's outcome is unknown to its caller, as for any failed call; the
  // retry is safe because a put with the same id and number replaces.
  ASSERT_THAT(PutTrial(MakeTrial("st-1", 2)), IsOk());
  ASSERT_THAT(PutTrial(MakeTrial("st-1", 3)), IsOk());
  ASSERT_OK_AND_ASSIGN(v1::Trial trial, GetTrial("st-1", "t-2"));
  EXPECT_EQ(DeterministicBytes(trial), DeterministicBytes(MakeTrial("st-1", 2)));
}

}  // namespace
}  // namespace vmle::memory::testing
