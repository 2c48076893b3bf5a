// Leave-one-out split (DESIGN.md, "Evaluation protocol"), shared by training
// and evaluation so that both see exactly the same boundaries.
//
// For a user with sequence s of length n >= 3:
//   training portion   s[0, n-2)
//   validation case    target s[n-2], history s[0, n-2)
//   test case          target s[n-1], history s[0, n-1)
// Users with n < 3 ("short users") cannot supply a validation and a test
// target with a non-empty history, so they are excluded from evaluation and
// their whole sequence is training data (a length-1 sequence then only adds
// popularity, a length-2 one also one transition). Including them leaks
// nothing: none of their items is ever a target.
//
// Histories are prefixes of the dataset's sequences, so cases refer to them
// by length instead of copying.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "services/trainer/data/dataset.h"

namespace vmle::trainer {

enum class EvalSplit { kValidation, kTest };

// Sequences shorter than this are short users (see above).
inline constexpr int64_t kMinEvalLength = 3;

// Number of leading items of a length-n sequence that are training data:
// n - 2 when n >= 3, else n.
int64_t TrainLength(int64_t sequence_length);

// Whether a user with a sequence this long is evaluated (n >= 3).
bool IsEvaluated(int64_t sequence_length);

struct EvalCase {
  int32_t user_id = 0;         // 1-based; the sequence is sequences[user_id - 1]
  int32_t target = 0;          // item id to rank
  int64_t history_length = 0;  // history = sequence[0, history_length)
};

// One case per evaluated user, in user-id order.
std::vector<EvalCase> MakeEvalCases(const Dataset& dataset, EvalSplit split);

struct SplitSummary {
  int64_t num_users = 0;               // all users
  int64_t num_eval_users = 0;          // users with >= 3 items
  int64_t num_short_users = 0;         // users with < 3 items: training only
  int64_t num_train_interactions = 0;  // items in all training portions
};

SplitSummary SummarizeSplit(const Dataset& dataset);

struct ItemCount {
  int32_t item = 0;
  int32_t count = 0;  // saturates at INT32_MAX
};

// Statistics of the training portions only (never validation or test
// targets), later blended into model scores as priors.
struct TrainingPriors {
  // popularity[i] = occurrences of item i; size num_items + 1, popularity[0] = 0.
  std::vector<int64_t> popularity;
  // transitions[i] = items that directly follow i within a training portion,
  // with counts, sorted by count descending, then item id ascending. Size
  // num_items + 1; transitions[0] is empty. Repeats (i followed by i) count.
  std::vector<std::vector<ItemCount>> transitions;
  int64_t num_transitions = 0;  // total consecutive pairs counted
};

// Priors of `dataset`'s training portions. Item ids outside [1, num_items]
// are skipped (ValidateDataset rejects them).
TrainingPriors ComputeTrainingPriors(const Dataset& dataset);

}  // namespace vmle::trainer
