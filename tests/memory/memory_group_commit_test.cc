// MemoryStore group commit: synced writes to different studies that arrive together
// share write-ahead-log syncs, and each is acknowledged only after a sync that ended
// after it began.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "services/memory/store/memory_store.h"
#include "services/memory/store/slow_disk.h"
#include "tests/memory/memory_test_util.h"

namespace vmle::memory::testing {
namespace {

// 50 ms a WAL sync: writers that start together all arrive within the first one.
class SlowDisk : public SlowSyncFileSystem {
 public:
  SlowDisk() : SlowSyncFileSystem(absl::Milliseconds(50)) {}
};

using GroupCommitTest = StoreOnFileSystemTest<SlowDisk>;

TEST_F(GroupCommitTest, ConcurrentWritesToDifferentStudiesShareLogSyncs) {
  constexpr int kStudies = 16;
  for (int i = 0; i < kStudies; ++i) PutStudy(MakeStudy(absl::StrCat("st-", i)));
  const int64_t before = fs_->wal_syncs();
  std::atomic<int> ready{0};
  std::vector<absl::Status> results(kStudies);
  std::vector<int64_t> syncs_at_start(kStudies), syncs_at_ack(kStudies);
  std::vector<std::thread> writers;
  for (int i = 0; i < kStudies; ++i) {
    writers.emplace_back([&, i] {
      const std::string id = absl::StrCat("st-", i);
      v1::CommitTrialResultRequest request;
      *request.mutable_trial() = MakeTrial(id, 1);
      *request.mutable_study() = MakeStudy(id);
      request.set_expected_study_version(1);
      ready.fetch_add(1);
      while (ready.load() < kStudies) std::this_thread::yield();
      syncs_at_start[i] = fs_->wal_syncs();
      results[i] = store_->CommitTrialResult(request).status();
      syncs_at_ack[i] = fs_->wal_syncs();
    });
  }
  for (auto& t : writers) t.join();
  for (int i = 0; i < kStudies; ++i) {
    ASSERT_THAT(results[i], IsOk()) << "study " << i;
    EXPECT_GT(syncs_at_ack[i], syncs_at_start[i]) << "study " << i << " was acknowledged before a sync ended";
    ASSERT_OK_AND_ASSIGN(v1::Study study, GetStudy(absl::StrCat("st-", i)));
    EXPECT_EQ(study.version(), 2);
    EXPECT_THAT(GetTrial(absl::StrCat("st-", i), "t-1"), IsOk());
  }
  // One sync per write would be 16; the writes that queued behind the first share the next.
  EXPECT_LE(fs_->wal_syncs() - before, kStudies / 2);
}

}  // namespace
}  // namespace vmle::memory::testing
