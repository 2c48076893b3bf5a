// The memory service's disk filling up. No size-limited tmpfs or loop device is
// available to an unprivileged test, so the store runs on a RocksDB FileSystem
// wrapper whose appends fail with NoSpace ("No space left on device") while `full`
// is set, whatever file they go to (log, table, manifest): what a full volume does.
// Expected: the write is refused with RESOURCE_EXHAUSTED (not acknowledged), reads
// keep working, and once space is back and the service restarts, every acknowledged
// write is there and the refused one can be retried.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <utility>

#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "services/memory/store/memory_store.h"
#include "tests/memory/memory_test_util.h"

namespace vmle::memory::testing {
namespace {

using absl::StatusCode;

class FullDiskFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FullDiskFile(std::unique_ptr<rocksdb::FSWritableFile> file, const std::atomic<bool>* full)
      : FSWritableFileOwnerWrapper(std::move(file)), full_(full) {}
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    if (full_->load()) return rocksdb::IOStatus::NoSpace("No space left on device");
    return FSWritableFileOwnerWrapper::Append(data, options, dbg);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& info, rocksdb::IODebugContext* dbg) override {
    if (full_->load()) return rocksdb::IOStatus::NoSpace("No space left on device");
    return FSWritableFileOwnerWrapper::Append(data, options, info, dbg);
  }

 private:
  const std::atomic<bool>* full_;
};

// The default file system on a volume that fills up on demand.
class FullDiskFileSystem : public rocksdb::FileSystemWrapper {
 public:
  FullDiskFileSystem() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "FullDiskFileSystem"; }
  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* file,
                                    rocksdb::IODebugContext* dbg) override {
    if (full.load()) return rocksdb::IOStatus::NoSpace("No space left on device");
    rocksdb::IOStatus s = target()->NewWritableFile(name, options, file, dbg);
    if (s.ok()) *file = std::make_unique<FullDiskFile>(std::move(*file), &full);
    return s;
  }

  std::atomic<bool> full{false};
};

using DiskFullTest = StoreOnFileSystemTest<FullDiskFileSystem>;

TEST_F(DiskFullTest, AWriteOnAFullDiskIsRefusedAndAcknowledgedDataSurvives) {
  PutStudy(MakeStudy("st-1"));
  ASSERT_THAT(PutTrial(MakeTrial("st-1", 1)), IsOk());

  fs_->full = true;
  EXPECT_THAT(PutTrial(MakeTrial("st-1", 2)), StatusIs(StatusCode::kResourceExhausted, "No space"));
  // What was acknowledged can still be read while the disk is full.
  EXPECT_THAT(GetTrial("st-1", "t-1"), IsOk());
  EXPECT_THAT(GetStudy("st-1"), IsOk());

  // Space is freed; the operator restarts the service.
  fs_->full = false;
  options_.env = nullptr;
  Reopen();
  EXPECT_THAT(GetTrial("st-1", "t-1"), IsOk());
  ASSERT_THAT(PutTrial(MakeTrial("st-1", 2)), IsOk()) << "the refused write can be retried";
  ASSERT_OK_AND_ASSIGN(v1::Trial trial, GetTrial("st-1", "t-2"));
  EXPECT_EQ(DeterministicBytes(trial), DeterministicBytes(MakeTrial("st-1", 2)));
}

}  // namespace
}  // namespace vmle::memory::testing
