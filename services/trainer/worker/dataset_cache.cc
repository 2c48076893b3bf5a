#include "services/trainer/worker/dataset_cache.h"

#include <sys/stat.h>

#include <filesystem>
#include <new>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/status/status_macros.h"
#include "prometheus/family.h"
#include "services/trainer/data/preprocess.h"
#include "services/trainer/data/readers.h"
#include "services/trainer/data/synthetic.h"
#include "services/trainer/eval/priors.h"
#include "services/trainer/util/configuration.h"

namespace vmle::worker {
namespace {

namespace fs = std::filesystem;

// Synthetic datasets beyond this many users or items are refused rather than
// allowed to exhaust the worker's memory.
constexpr int64_t kMaxSyntheticSize = 10'000'000;

absl::Status CheckRelative(const std::string& path) {
  if (path.empty()) {
    return absl::InvalidArgumentError(
        "dataset path is empty; name a file relative to the worker's data root");
  }
  const fs::path p(path);
  if (p.is_absolute()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dataset path \"", path, "\" is absolute; give it relative to the worker's data root"));
  }
  for (const fs::path& part : p) {
    if (part == "..") {
      return absl::InvalidArgumentError(absl::StrCat(
          "dataset path \"", path, "\" contains '..'; datasets must lie under the data root"));
    }
  }
  return absl::OkStatus();
}

// Whether `path` is `root` or lies below it (both canonical).
bool IsUnder(const fs::path& path, const fs::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

absl::StatusOr<trainer::DatasetFormat> TrainerFormat(vmle::v1::DatasetFormat format) {
  switch (format) {
    case vmle::v1::DATASET_FORMAT_SEQUENTIAL: return trainer::DatasetFormat::kSequential;
    case vmle::v1::DATASET_FORMAT_AMAZON_2014_JSON: return trainer::DatasetFormat::kAmazon2014Json;
    case vmle::v1::DATASET_FORMAT_AMAZON_2023_CSV: return trainer::DatasetFormat::kAmazon2023Csv;
    case vmle::v1::DATASET_FORMAT_RECBOLE_INTER: return trainer::DatasetFormat::kRecBoleInter;
    case vmle::v1::DATASET_FORMAT_MOVIELENS_DAT: return trainer::DatasetFormat::kMovieLensDat;
    case vmle::v1::DATASET_FORMAT_CSV: return trainer::DatasetFormat::kCsv;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("dataset format ", vmle::v1::DatasetFormat_Name(format),
                       " cannot be read from a file; name one of the DATASET_FORMAT_* values"));
  }
}

absl::Status CheckPreprocessing(const vmle::v1::DatasetSpec& spec) {
  if (spec.k_core() < 0 || spec.max_history() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("dataset k_core (", spec.k_core(),
                                                   ") and max_history (", spec.max_history(),
                                                   ") must be >= 0 (0 disables them)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<trainer::ReaderOptions> ReaderOptionsFor(const vmle::v1::DatasetSpec& spec) {
  RETURN_IF_ERROR(CheckPreprocessing(spec));
  trainer::ReaderOptions options;
  options.k_core = spec.k_core();
  options.max_length = spec.max_history();
  if (!spec.csv_user_column().empty()) options.user_column = spec.csv_user_column();
  if (!spec.csv_item_column().empty()) options.item_column = spec.csv_item_column();
  if (!spec.csv_time_column().empty()) options.time_column = spec.csv_time_column();
  if (!spec.csv_delimiter().empty()) {
    const std::string& d = spec.csv_delimiter();
    if (d.size() != 1 || d[0] == '"' || d[0] == '\n' || d[0] == '\r') {
      return absl::InvalidArgumentError(absl::StrCat(
          "csv_delimiter \"", d, "\" must be one character other than a quote or a line break"));
    }
    options.delimiter = d[0];
  }
  return options;
}

absl::StatusOr<trainer::SyntheticOptions> SyntheticOptionsFor(const vmle::v1::DatasetSpec& spec) {
  trainer::SyntheticOptions options;
  if (spec.synthetic_users() != 0) options.num_users = spec.synthetic_users();
  if (spec.synthetic_items() != 0) options.num_items = spec.synthetic_items();
  options.seed = spec.synthetic_seed();
  if (options.num_users < 0 || options.num_items < 0 || options.num_users > kMaxSyntheticSize ||
      options.num_items > kMaxSyntheticSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "synthetic_users (", options.num_users, ") and synthetic_items (", options.num_items,
        ") must be in [1, ", kMaxSyntheticSize, "] (0 takes the generator's default)"));
  }
  RETURN_IF_ERROR(trainer::ToAbsl(trainer::ValidateSyntheticOptions(options)));
  return options;
}

// The generated dataset as raw interactions (positions as timestamps), so the
// readers' preprocessing applies to it unchanged.
trainer::InteractionLog ToLog(const trainer::Dataset& dataset) {
  trainer::InteractionLog log;
  log.num_user_keys = static_cast<int32_t>(dataset.num_users);
  log.num_item_keys = static_cast<int32_t>(dataset.num_items);
  log.item_order = trainer::ItemIdOrder::kKeyIndex;
  log.interactions.reserve(trainer::NumInteractions(dataset));
  for (size_t u = 0; u < dataset.sequences.size(); ++u) {
    const auto& sequence = dataset.sequences[u];
    for (size_t i = 0; i < sequence.size(); ++i) {
      log.interactions.push_back({static_cast<int32_t>(u), sequence[i] - 1, static_cast<int64_t>(i)});
    }
  }
  return log;
}

absl::StatusOr<trainer::Dataset> GenerateDataset(const vmle::v1::DatasetSpec& spec,
                                                 const std::string& source) {
  RETURN_IF_ERROR(CheckPreprocessing(spec));
  ASSIGN_OR_RETURN(const trainer::SyntheticOptions options, SyntheticOptionsFor(spec));
  trainer::Dataset generated = trainer::GenerateSynthetic(options);
  if (spec.k_core() == 0 && spec.max_history() == 0) return generated;
  trainer::PreprocessOptions preprocess;
  preprocess.k_core = spec.k_core();
  preprocess.max_length = spec.max_history();
  auto dataset = trainer::Preprocess(ToLog(generated), preprocess, source);
  if (!dataset.ok()) return trainer::ToAbsl(dataset.status());
  return std::move(*dataset);
}

absl::StatusOr<trainer::Dataset> ReadFile(const vmle::v1::DatasetSpec& spec,
                                          const std::string& resolved) {
  ASSIGN_OR_RETURN(const trainer::DatasetFormat format, TrainerFormat(spec.format()));
  ASSIGN_OR_RETURN(const trainer::ReaderOptions options, ReaderOptionsFor(spec));
  auto dataset = trainer::ReadDataset(resolved, format, options);
  if (!dataset.ok()) {
    // The reader names the file it opened; a caller sees the path it gave.
    const absl::Status status = trainer::ToAbsl(dataset.status());
    return absl::Status(status.code(), absl::StrReplaceAll(status.message(), {{resolved, spec.path()}}));
  }
  return std::move(*dataset);
}

std::string SyntheticSource(const vmle::v1::DatasetSpec& spec) {
  return absl::StrCat("synthetic(users=", spec.synthetic_users(), ", items=", spec.synthetic_items(),
                      ", seed=", spec.synthetic_seed(), ")");
}

// Profile and split of a loaded dataset; FAILED_PRECONDITION when nobody can be
// evaluated.
absl::StatusOr<std::shared_ptr<const LoadedDataset>> Finish(trainer::Dataset dataset, std::string source,
                                                            const std::string& shown) {
  auto loaded = std::make_shared<LoadedDataset>();
  loaded->split = trainer::SummarizeSplit(dataset);
  if (loaded->split.num_eval_users == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        shown, ": no user has the 3 interactions leave-one-out evaluation needs; "
               "lower k_core/max_history or use a larger dataset"));
  }
  const trainer::DatasetProfile profile = trainer::ComputeProfile(dataset);
  if (profile.num_users < kMinDatasetUsers || profile.num_items < kMinDatasetItems ||
      profile.num_interactions < kMinDatasetInteractions) {
    return absl::FailedPreconditionError(absl::StrCat(
        shown, ": ", profile.num_users, " users, ", profile.num_items, " items and ", profile.num_interactions,
        " interactions after filtering; a dataset needs at least ", kMinDatasetUsers, " users, ",
        kMinDatasetItems, " items and ", kMinDatasetInteractions,
        " interactions to train, validate and test on"));
  }
  loaded->profile = ToProto(profile);
  loaded->dataset = std::move(dataset);
  loaded->source = std::move(source);
  loaded->priors = std::make_shared<trainer::PriorTables>(loaded->dataset);
  return loaded;
}

}  // namespace

vmle::v1::DatasetProfile ToProto(const trainer::DatasetProfile& profile) {
  vmle::v1::DatasetProfile out;
  out.set_num_users(profile.num_users);
  out.set_num_items(profile.num_items);
  out.set_num_interactions(profile.num_interactions);
  out.set_mean_length(profile.mean_length);
  out.set_median_length(profile.median_length);
  out.set_max_length(profile.max_length);
  out.set_density(profile.density);
  out.set_popularity_gini(profile.popularity_gini);
  out.set_top1pct_share(profile.top1pct_share);
  return out;
}

absl::StatusOr<std::unique_ptr<DatasetCache>> DatasetCache::Create(const DatasetCacheOptions& options) {
  if (options.max_entries < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset cache entries must be at least 1, got ", options.max_entries));
  }
  std::error_code error;
  const fs::path root = fs::canonical(options.data_root, error);
  if (error) {
    return absl::NotFoundError(absl::StrCat("data root \"", options.data_root,
                                            "\" does not exist (", error.message(),
                                            "); create it or point --data_root elsewhere"));
  }
  if (!fs::is_directory(root, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("data root \"", options.data_root, "\" is not a directory"));
  }
  return std::unique_ptr<DatasetCache>(new DatasetCache(root.string(), options));
}

DatasetCache::DatasetCache(std::string root, const DatasetCacheOptions& options)
    : root_(std::move(root)), max_entries_(options.max_entries), max_dataset_bytes_(options.max_dataset_bytes) {
  if (options.metrics == nullptr) return;
  hits_ = &prometheus::BuildCounter()
               .Name("vmle_worker_dataset_cache_hits_total")
               .Help("Dataset loads answered from the worker's cache")
               .Register(*options.metrics)
               .Add({});
  misses_ = &prometheus::BuildCounter()
                 .Name("vmle_worker_dataset_cache_misses_total")
                 .Help("Dataset loads that read or generated the dataset")
                 .Register(*options.metrics)
                 .Add({});
}

absl::StatusOr<std::string> DatasetCache::ResolvePath(const std::string& relative) const {
  RETURN_IF_ERROR(CheckRelative(relative));
  std::error_code error;
  const fs::path joined = fs::path(root_) / relative;
  const fs::path resolved = fs::canonical(joined, error);
  if (error) {
    return absl::NotFoundError(absl::StrCat("dataset \"", relative, "\" not found under the data root (",
                                            error.message(), ")"));
  }
  // Messages name paths relative to the root only: neither the root nor where a
  // link points is shown to the submitter.
  if (!IsUnder(resolved, fs::path(root_))) {
    return absl::PermissionDeniedError(absl::StrCat(
        "dataset path \"", relative, "\" resolves outside the data root (a symbolic link?); "
        "place the file under the root"));
  }
  if (!fs::is_regular_file(resolved, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset path \"", relative, "\" is not a regular file"));
  }
  return resolved.string();
}

absl::StatusOr<DatasetCache::Located> DatasetCache::Locate(const vmle::v1::DatasetSpec& spec) const {
  vmle::v1::DatasetSpec settings = spec;
  settings.clear_name();
  if (spec.format() == vmle::v1::DATASET_FORMAT_SYNTHETIC) {
    settings.clear_path();
    return Located{absl::StrCat("synthetic|", settings.ShortDebugString()), SyntheticSource(spec)};
  }
  ASSIGN_OR_RETURN(std::string resolved, ResolvePath(spec.path()));
  struct stat info {};
  if (::stat(resolved.c_str(), &info) != 0) {
    return absl::NotFoundError(absl::StrCat("dataset \"", spec.path(), "\" disappeared"));
  }
  if (max_dataset_bytes_ > 0 && info.st_size > max_dataset_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "dataset \"", spec.path(), "\" is ", info.st_size, " bytes, more than this worker's limit of ",
        max_dataset_bytes_, " (--max_dataset_bytes); filter it (k-core, max_history) or raise the limit"));
  }
  settings.set_path(resolved);
  std::string key = absl::StrCat("file|", settings.ShortDebugString(), "|size=", info.st_size,
                                 "|mtime=", info.st_mtim.tv_sec, ".", info.st_mtim.tv_nsec);
  return Located{std::move(key), std::move(resolved)};
}

absl::StatusOr<std::shared_ptr<const LoadedDataset>> DatasetCache::Get(
    const vmle::v1::DatasetSpec& spec) {
  try {
    ASSIGN_OR_RETURN(Located located, Locate(spec));
    if (auto cached = Lookup(located.key)) {
      if (hits_ != nullptr) hits_->Increment();
      return cached;
    }
    if (misses_ != nullptr) misses_->Increment();
    const bool synthetic = spec.format() == vmle::v1::DATASET_FORMAT_SYNTHETIC;
    ASSIGN_OR_RETURN(trainer::Dataset dataset, synthetic ? GenerateDataset(spec, located.source)
                                                         : ReadFile(spec, located.source));
    const std::string shown = synthetic ? located.source : absl::StrCat("dataset \"", spec.path(), "\"");
    ASSIGN_OR_RETURN(auto loaded, Finish(std::move(dataset), std::move(located.source), shown));
    return Insert(located.key, std::move(loaded));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat("out of memory loading dataset \"", spec.path(), "\""));
  }
}

std::shared_ptr<const LoadedDataset> DatasetCache::Lookup(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  entries_.splice(entries_.begin(), entries_, it->second);
  return it->second->second;
}

std::shared_ptr<const LoadedDataset> DatasetCache::Insert(const std::string& key,
                                                          std::shared_ptr<const LoadedDataset> dataset) {
  absl::MutexLock lock(&mu_);
  if (auto it = index_.find(key); it != index_.end()) {
    entries_.splice(entries_.begin(), entries_, it->second);
    return it->second->second;
  }
  entries_.emplace_front(key, std::move(dataset));
  index_[key] = entries_.begin();
  while (static_cast<int>(entries_.size()) > max_entries_) {
    index_.erase(entries_.back().first);
    entries_.pop_back();
  }
  return entries_.front().second;
}

int DatasetCache::size() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(entries_.size());
}

}  // namespace vmle::worker
