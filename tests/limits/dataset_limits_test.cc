// The worker's dataset size limit (DatasetCacheOptions::max_dataset_bytes, flag
// --max_dataset_bytes): a file over it is refused before it is read.
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/trainer/worker/dataset_cache.h"

namespace vmle::worker {
namespace {

using ::testing::HasSubstr;

TEST(DatasetLimitsTest, AFileOverTheLimitIsRefusedWithResourceExhausted) {
  std::string pattern = (std::filesystem::temp_directory_path() / "dataset_limits.XXXXXX").string();
  const std::string root = mkdtemp(pattern.data());
  // Four users with 3 to 5 items each: 38 bytes.
  const std::string small = "1 1 2 3 4\n2 2 3 4\n3 1 3 5 2 4\n4 5 1 2\n";
  std::ofstream(root + "/small.txt") << small;
  std::ofstream(root + "/big.txt") << small << small.substr(0, 20);

  DatasetCacheOptions options;
  options.data_root = root;
  options.max_dataset_bytes = static_cast<int64_t>(small.size());
  auto cache = DatasetCache::Create(options);
  ASSERT_TRUE(cache.ok()) << cache.status();

  vmle::v1::DatasetSpec spec;
  spec.set_format(vmle::v1::DATASET_FORMAT_SEQUENTIAL);
  spec.set_path("small.txt");
  const auto loaded = (*cache)->Get(spec);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->dataset.sequences.size(), 4u);

  spec.set_path("big.txt");
  const auto refused = (*cache)->Get(spec);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.status().message(), HasSubstr("\"big.txt\" is 58 bytes, more than this worker's limit of 38"));
  EXPECT_THAT(refused.status().message(), HasSubstr("--max_dataset_bytes"));
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace vmle::worker
