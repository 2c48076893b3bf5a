// The worker's datasets: a DatasetSpec from a trial assignment resolved under the
// data root, read with the trainer's readers (or generated), preprocessed,
// profiled and kept in memory for the trials that follow.
//
// Paths: a spec's path is relative to the data root. Empty paths, absolute paths
// and paths with a `..` component are INVALID_ARGUMENT; a path that resolves
// outside the root (a symbolic link pointing elsewhere) is PERMISSION_DENIED. The
// messages say what to do.
//
// Loading: the file is read in the spec's format with k_core and max_history
// applied (readers.h, preprocess.h); DATASET_FORMAT_SYNTHETIC generates the data
// (synthetic.h) and applies the same preprocessing. The leave-one-out split
// (split.h) is summarised and must leave users to evaluate, and the filtered
// dataset must have at least kMinDatasetUsers users, kMinDatasetItems items and
// kMinDatasetInteractions interactions, otherwise FAILED_PRECONDITION (the trial
// fails as bad_data). Reader errors keep their code: INVALID_ARGUMENT naming the
// file and line of malformed input, NOT_FOUND for a missing file, ...;
// RESOURCE_EXHAUSTED "out of memory" when memory runs out. Every message names the
// spec's path relative to the data root, never the root or a link's target.
//
// Caching: a loaded dataset is keyed by its resolved path, format, preprocessing
// and reader settings, and the file's size and modification time, so an edited
// file is read again. At most max_entries datasets stay loaded; the least
// recently used goes first. Entries are shared and immutable: a caller may keep
// one after it has been evicted.
//
// Thread-safety: every method may be called from any thread. Two threads that
// miss on the same key at once may both read the file; the first to finish is
// cached and both get it.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "services/trainer/data/dataset.h"
#include "services/trainer/data/split.h"
#include "vmle/v1/common.pb.h"

namespace vmle::trainer {
class PriorTables;  // services/trainer/eval/priors.h
}  // namespace vmle::trainer

namespace vmle::worker {

// The smallest dataset a leave-one-out split can train, validate and test on at all
// (a floor against empty or degenerate files, not a bar for meaningful results).
inline constexpr int kMinDatasetUsers = 4;
inline constexpr int kMinDatasetItems = 4;
inline constexpr int kMinDatasetInteractions = 12;

struct DatasetCacheOptions {
  // Directory every dataset path is resolved under; must exist.
  std::string data_root = ".";
  // Datasets kept loaded (at least 1); the least recently used is evicted first.
  int max_entries = 4;
  // Largest dataset file read, in bytes as stored (compressed, for gzip); a bigger
  // one fails with RESOURCE_EXHAUSTED before it is read. 0: no limit.
  int64_t max_dataset_bytes = 0;
  // Registry for vmle_worker_dataset_cache_{hits,misses}_total; may be null.
  // Not owned; must outlive the cache.
  prometheus::Registry* metrics = nullptr;
};

// A dataset ready for training. Immutable once cached.
struct LoadedDataset {
  // Preprocessed: ids dense from 1, one time-ordered sequence per user.
  trainer::Dataset dataset;
  // Statistics after preprocessing, as the agent stores them.
  vmle::v1::DatasetProfile profile;
  // The leave-one-out split's counts.
  trainer::SplitSummary split;
  // The resolved file, or "synthetic(users=..., items=..., seed=...)", for messages.
  std::string source;
  // The training-split prior tables of `dataset`, computed on first use and shared
  // by every trial on it. Refers to `dataset`: a LoadedDataset is never copied.
  std::shared_ptr<trainer::PriorTables> priors;

  LoadedDataset() = default;
  LoadedDataset(const LoadedDataset&) = delete;
  LoadedDataset& operator=(const LoadedDataset&) = delete;
};

class DatasetCache {
 public:
  // INVALID_ARGUMENT when max_entries < 1 or the data root is not a directory,
  // NOT_FOUND when it does not exist.
  static absl::StatusOr<std::unique_ptr<DatasetCache>> Create(const DatasetCacheOptions& options);

  DatasetCache(const DatasetCache&) = delete;
  DatasetCache& operator=(const DatasetCache&) = delete;

  // The dataset `spec` names, from the cache or loaded now; see the header comment
  // for the errors. Never throws.
  absl::StatusOr<std::shared_ptr<const LoadedDataset>> Get(const vmle::v1::DatasetSpec& spec);

  // The canonical absolute path of `relative` under the data root, which must exist;
  // the path rules of the header comment apply.
  absl::StatusOr<std::string> ResolvePath(const std::string& relative) const;

  // The canonical data root.
  const std::string& data_root() const { return root_; }
  // Datasets loaded now.
  int size() const;

 private:
  using Entry = std::pair<std::string, std::shared_ptr<const LoadedDataset>>;

  DatasetCache(std::string root, const DatasetCacheOptions& options);

  // Where a spec's data comes from and its cache key.
  struct Located {
    std::string key;
    std::string source;  // the resolved file, or a description of the generator's input
  };

  // Resolves and stats the spec's file (nothing to resolve for synthetic data).
  absl::StatusOr<Located> Locate(const vmle::v1::DatasetSpec& spec) const;
  std::shared_ptr<const LoadedDataset> Lookup(const std::string& key);
  std::shared_ptr<const LoadedDataset> Insert(const std::string& key,
                                              std::shared_ptr<const LoadedDataset> dataset);

  const std::string root_;
  const int max_entries_;
  const int64_t max_dataset_bytes_;
  prometheus::Counter* hits_ = nullptr;
  prometheus::Counter* misses_ = nullptr;

  mutable absl::Mutex mu_;
  // Most recently used first.
  std::list<Entry> entries_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::list<Entry>::iterator> index_ ABSL_GUARDED_BY(mu_);
};

// The wire form of a trainer profile.
vmle::v1::DatasetProfile ToProto(const trainer::DatasetProfile& profile);

}  // namespace vmle::worker
