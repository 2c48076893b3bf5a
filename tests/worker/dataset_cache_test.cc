#include "services/trainer/worker/dataset_cache.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/util/subprocess.h"
#include "tests/worker/worker_test_util.h"

namespace vmle::worker {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

// Four users with 3 to 5 items each.
constexpr char kSequential[] = "1 1 2 3 4\n2 2 3 4\n3 1 3 5 2 4\n4 5 1 2\n";

class DatasetCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = vmle::testing::MakeTempDir();
    root_ = dir_ + "/root";
    std::filesystem::create_directories(root_ + "/amazon");
    DatasetCacheOptions options;
    options.data_root = root_;
    options.max_entries = 2;
    auto cache = DatasetCache::Create(options);
    ASSERT_TRUE(cache.ok()) << cache.status();
    cache_ = std::move(*cache);
  }

  static vmle::v1::DatasetSpec FileSpec(const std::string& path) {
    vmle::v1::DatasetSpec spec;
    spec.set_path(path);
    spec.set_format(vmle::v1::DATASET_FORMAT_SEQUENTIAL);
    return spec;
  }

  std::string dir_;
  std::string root_;
  std::unique_ptr<DatasetCache> cache_;
};

TEST_F(DatasetCacheTest, RefusesParentDirectoryComponents) {
  WriteFile(dir_ + "/outside.txt", kSequential);
  for (const std::string path : {"../outside.txt", "amazon/../../outside.txt"}) {
    const auto got = cache_->Get(FileSpec(path));
    ASSERT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << path;
    EXPECT_THAT(got.status().message(), HasSubstr("contains '..'"));
  }
}

TEST_F(DatasetCacheTest, RefusesAbsolutePaths) {
  WriteFile(root_ + "/data.txt", kSequential);
  const auto got = cache_->Get(FileSpec(root_ + "/data.txt"));
  ASSERT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(), HasSubstr("is absolute"));
  EXPECT_THAT(got.status().message(), HasSubstr("relative to the worker's data root"));
}

TEST_F(DatasetCacheTest, RefusesSymlinksLeavingTheRoot) {
  WriteFile(dir_ + "/secret.txt", kSequential);
  ASSERT_EQ(symlink((dir_ + "/secret.txt").c_str(), (root_ + "/link.txt").c_str()), 0);
  ASSERT_EQ(symlink(dir_.c_str(), (root_ + "/escape").c_str()), 0);
  for (const std::string path : {"link.txt", "escape/secret.txt"}) {
    const auto got = cache_->Get(FileSpec(path));
    ASSERT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied) << path;
    EXPECT_THAT(got.status().message(), HasSubstr("outside the data root"));
    // Neither the root nor the link's target is shown.
    EXPECT_THAT(got.status().message(), Not(HasSubstr(dir_))) << path;
  }
}

TEST_F(DatasetCacheTest, MessagesNamePathsRelativeToTheRoot) {
  WriteFile(root_ + "/bad.txt", "1 1 2 3\n2 4 abc 5\n");
  for (const std::string path : {"nope.txt", "bad.txt"}) {
    const auto got = cache_->Get(FileSpec(path));
    ASSERT_FALSE(got.ok()) << path;
    EXPECT_THAT(got.status().message(), HasSubstr(path));
    EXPECT_THAT(got.status().message(), Not(HasSubstr(root_))) << got.status();
  }
}

TEST_F(DatasetCacheTest, ADatasetBelowTheMinimumIsRefusedNamingTheMinimum) {
  // Two users: leave-one-out could split them, but nothing can be learned.
  WriteFile(root_ + "/tiny.txt", "1 1 2 3 4 5\n2 2 3 4 5 1\n");
  const auto got = cache_->Get(FileSpec("tiny.txt"));
  ASSERT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("2 users"));
  EXPECT_THAT(got.status().message(), HasSubstr("at least 4 users"));
  EXPECT_THAT(got.status().message(), HasSubstr("tiny.txt"));
  EXPECT_THAT(got.status().message(), Not(HasSubstr(root_)));
}

TEST_F(DatasetCacheTest, FollowsSymlinksInsideTheRoot) {
  WriteFile(root_ + "/amazon/beauty.txt", kSequential);
  ASSERT_EQ(symlink((root_ + "/amazon/beauty.txt").c_str(), (root_ + "/beauty.txt").c_str()), 0);
  const auto got = cache_->Get(FileSpec("beauty.txt"));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)->dataset.num_users, 4);
}

TEST_F(DatasetCacheTest, MissingFileAndEmptyPathAreClearErrors) {
  auto missing = cache_->Get(FileSpec("nope.txt"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("nope.txt"));
  EXPECT_EQ(cache_->Get(FileSpec("")).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(DatasetCacheTest, MalformedFileNamesFileAndLine) {
  WriteFile(root_ + "/bad.txt", "1 1 2 3\n2 4 abc 5\n");
  const auto got = cache_->Get(FileSpec("bad.txt"));
  ASSERT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(), HasSubstr("bad.txt:2"));
  EXPECT_THAT(got.status().message(), HasSubstr("abc"));
}

TEST_F(DatasetCacheTest, UnspecifiedFormatIsRefused) {
  WriteFile(root_ + "/data.txt", kSequential);
  auto spec = FileSpec("data.txt");
  spec.set_format(vmle::v1::DATASET_FORMAT_UNSPECIFIED);
  EXPECT_EQ(cache_->Get(spec).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(DatasetCacheTest, LoadsProfilesAndCachesUntilTheFileChanges) {
  WriteFile(root_ + "/data.txt", kSequential);
  const auto first = cache_->Get(FileSpec("data.txt"));
  ASSERT_TRUE(first.ok()) << first.status();
  const LoadedDataset& loaded = **first;
  EXPECT_EQ(loaded.dataset.num_users, 4);
  EXPECT_EQ(loaded.dataset.num_items, 5);
  EXPECT_EQ(loaded.profile.num_users(), 4);
  EXPECT_EQ(loaded.profile.num_interactions(), 15);
  EXPECT_DOUBLE_EQ(loaded.profile.mean_length(), 3.75);
  EXPECT_EQ(loaded.profile.max_length(), 5);
  EXPECT_EQ(loaded.split.num_eval_users, 4);
  EXPECT_THAT(loaded.source, HasSubstr("data.txt"));

  // The name is a label, not part of the data.
  auto renamed = FileSpec("data.txt");
  renamed.set_name("Beauty");
  const auto again = cache_->Get(renamed);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->get(), first->get()) << "a cache hit returns the same object";

  // Other preprocessing is another dataset.
  auto truncated = FileSpec("data.txt");
  truncated.set_max_history(3);
  const auto short_history = cache_->Get(truncated);
  ASSERT_TRUE(short_history.ok()) << short_history.status();
  EXPECT_NE(short_history->get(), first->get());
  EXPECT_EQ((*short_history)->profile.max_length(), 3);

  // A rewritten file (another size) is read again.
  WriteFile(root_ + "/data.txt", std::string(kSequential) + "5 1 2 3\n");
  const auto reread = cache_->Get(FileSpec("data.txt"));
  ASSERT_TRUE(reread.ok());
  EXPECT_NE(reread->get(), first->get());
  EXPECT_EQ((*reread)->dataset.num_users, 5);
  // The caller's reference outlives the eviction.
  EXPECT_EQ(loaded.dataset.num_users, 4);
}

TEST_F(DatasetCacheTest, EvictsTheLeastRecentlyUsed) {
  WriteFile(root_ + "/a.txt", kSequential);
  WriteFile(root_ + "/b.txt", kSequential);
  WriteFile(root_ + "/c.txt", kSequential);
  const auto a = cache_->Get(FileSpec("a.txt"));
  const auto b = cache_->Get(FileSpec("b.txt"));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(cache_->Get(FileSpec("a.txt"))->get(), a->get());  // a is now the most recent
  ASSERT_TRUE(cache_->Get(FileSpec("c.txt")).ok());             // evicts b
  EXPECT_EQ(cache_->size(), 2);
  EXPECT_EQ(cache_->Get(FileSpec("a.txt"))->get(), a->get());
  EXPECT_NE(cache_->Get(FileSpec("b.txt"))->get(), b->get());
}

TEST_F(DatasetCacheTest, GeneratesSyntheticDataWithPreprocessing) {
  const vmle::v1::DatasetSpec spec = testing::TinySyntheticSpec();
  const auto first = cache_->Get(spec);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ((*first)->dataset.num_users, 200);
  EXPECT_LE((*first)->dataset.num_items, 80);
  EXPECT_EQ((*first)->profile.num_users(), 200);
  EXPECT_GT((*first)->profile.popularity_gini(), 0.0);
  EXPECT_THAT((*first)->source, HasSubstr("synthetic"));
  EXPECT_EQ(cache_->Get(spec)->get(), first->get());

  const auto other_seed = cache_->Get(testing::TinySyntheticSpec(4));
  ASSERT_TRUE(other_seed.ok());
  EXPECT_NE(other_seed->get(), first->get());

  vmle::v1::DatasetSpec truncated = spec;
  truncated.set_max_history(4);
  const auto short_history = cache_->Get(truncated);
  ASSERT_TRUE(short_history.ok()) << short_history.status();
  EXPECT_EQ((*short_history)->profile.max_length(), 4);
  EXPECT_EQ((*short_history)->dataset.num_users, 200);
}

TEST_F(DatasetCacheTest, DatasetThatCannotBeEvaluatedIsAFailedPrecondition) {
  WriteFile(root_ + "/short.txt", "1 1 2\n2 2 3\n");
  const auto got = cache_->Get(FileSpec("short.txt"));
  ASSERT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(got.status().message(), HasSubstr("3 interactions"));

  vmle::v1::DatasetSpec strict = testing::TinySyntheticSpec();
  strict.set_k_core(100000);
  EXPECT_EQ(cache_->Get(strict).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(DatasetCacheCreateTest, RootMustExist) {
  DatasetCacheOptions options;
  options.data_root = vmle::testing::MakeTempDir() + "/missing";
  EXPECT_EQ(DatasetCache::Create(options).status().code(), absl::StatusCode::kNotFound);
  options.data_root = vmle::testing::MakeTempDir();
  options.max_entries = 0;
  EXPECT_EQ(DatasetCache::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vmle::worker
