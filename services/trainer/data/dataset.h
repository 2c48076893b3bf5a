// In-memory sequential-recommendation dataset and its profile.
//
// A Dataset is what every reader (readers.h) and the synthetic generator
// (synthetic.h) produce and what training and evaluation consume: one
// time-ordered item sequence per user, ids dense and 1-based so that 0 is free
// for padding.
//
// Thread-safety: plain value types; concurrent reads are safe.
#pragma once

#include <cstdint>
#include <vector>

#include "services/trainer/util/status.h"

namespace vmle::trainer {

struct Dataset {
  int64_t num_users = 0;
  int64_t num_items = 0;
  // One sequence per user: sequences[u - 1] belongs to user id u. Items are ids
  // in [1, num_items] in time order (oldest first); 0 never appears. Readers
  // guarantee that every id in [1, num_items] occurs at least once and that no
  // sequence is empty.
  std::vector<std::vector<int32_t>> sequences;
};

// Total number of interactions (sum of sequence lengths).
int64_t NumInteractions(const Dataset& dataset);

// OK when `dataset` satisfies the invariants above except "every item occurs",
// which is not required of hand-built datasets. Otherwise InvalidArgument naming
// the first offending user and position.
Status ValidateDataset(const Dataset& dataset);

// Summary statistics used to describe a dataset to the planner and to find the
// nearest cognition summary (DESIGN.md, "Profile").
struct DatasetProfile {
  int64_t num_users = 0;
  int64_t num_items = 0;
  int64_t num_interactions = 0;
  double mean_length = 0;    // interactions per user
  double median_length = 0;  // mean of the two middle lengths when even
  int64_t max_length = 0;
  double density = 0;  // interactions / (users * items)
  // Gini coefficient of per-item interaction counts over all num_items items
  // (0 = uniform popularity, towards 1 = a few items take everything).
  double popularity_gini = 0;
  // Share of interactions on the ceil(1%) most popular items (at least one item).
  double top1pct_share = 0;
};

// Profile of `dataset`; all zero for an empty one. Item ids outside
// [1, num_items] are ignored in the popularity statistics.
DatasetProfile ComputeProfile(const Dataset& dataset);

}  // namespace vmle::trainer
