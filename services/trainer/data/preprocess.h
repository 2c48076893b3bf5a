// Turns raw interactions read from a file into a Dataset.
//
// Pipeline (DESIGN.md, "Datasets"), in this order:
//  1. Iterative k-core: drop every user with fewer than max(k_core, min_length)
//     interactions and every item with fewer than k_core, repeated until no
//     more drop out (computed by peeling in O(interactions); the result is the
//     unique maximal subset where every survivor meets its threshold).
//     Repeated (user, item) pairs count once per occurrence.
//  2. Stable sort of each user's interactions by timestamp: ties keep file order.
//  3. Truncation to the last max_length interactions per user (0 keeps all).
//     Truncation happens after filtering, so a truncated user may fall below
//     the k-core thresholds; this mirrors how sequential models cap history.
//  4. Dense re-indexing from 1. Users get ids in the order of their key index
//     (readers assign key indices in order of first appearance in the file, or
//     numerically for the sequential format). Items get ids either in order of
//     first appearance when walking users by new id and each sequence in time
//     order (ItemIdOrder::kFirstAppearance), or in key-index order
//     (kKeyIndex, which keeps an already-dense numeric id space unchanged).
//     Both rules are deterministic; only surviving items get ids, so every id
//     in [1, num_items] occurs.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "services/trainer/data/dataset.h"
#include "services/trainer/util/status.h"

namespace vmle::trainer {

// One interaction with user and item keys interned to dense key indices.
struct RawInteraction {
  int32_t user = 0;       // key index in [0, InteractionLog::num_user_keys)
  int32_t item = 0;       // key index in [0, InteractionLog::num_item_keys)
  int64_t timestamp = 0;  // any unit; only the order matters
};

enum class ItemIdOrder { kFirstAppearance, kKeyIndex };

// Everything a raw reader extracts from a file.
struct InteractionLog {
  int32_t num_user_keys = 0;
  int32_t num_item_keys = 0;
  std::vector<RawInteraction> interactions;  // in file order
  ItemIdOrder item_order = ItemIdOrder::kFirstAppearance;
};

struct PreprocessOptions {
  int k_core = 0;      // users and items need at least this many; 0 = no filter
  int min_length = 0;  // users also need at least this many; 0 = no filter
  int max_length = 0;  // keep each user's last max_length items; 0 = all
};

// InvalidArgument when an option is negative or min_length > max_length > 0.
Status ValidatePreprocessOptions(const PreprocessOptions& options);

// Per-interaction survival mask of the iterative k-core with the given
// thresholds (a threshold <= 1 filters nothing of its side).
// Precondition: every key index in `log` is within its key space.
std::vector<bool> KCoreMask(const InteractionLog& log, int user_min, int item_min);

// Runs the pipeline above. `source` names the input in messages.
// Errors: InvalidArgument for bad options or key indices outside the key
// spaces; FailedPrecondition, with a hint, when no interaction survives.
StatusOr<Dataset> Preprocess(const InteractionLog& log, const PreprocessOptions& options,
                             std::string_view source);

}  // namespace vmle::trainer
