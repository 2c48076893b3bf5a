// Training-split priors blended into a model's scores at ranking time.
//
// Each prior is a distribution over items estimated from the training portions of
// the split only (never validation or test targets):
//   popularity: how often each item occurs;
//   transition: the items that directly follow each of the user's most recent k
//     items (averaged over those k);
//   itemcf: item co-occurrence within a window, the neighbours of each of the
//     user's most recent k items (averaged over those k). Two items co-occur when
//     at most `window` positions apart in a training portion; a neighbour b of a
//     weighs c(a, b) / sqrt(n_a n_b) (sqrt: the cosine of classic itemCF),
//     c(a, b) / n_b (count: popular neighbours fully discounted) or c(a, b) (none),
//     where n is an item's occurrences, and each item keeps its top_k neighbours.
// A conditional prior from source item m is P(i | m) = (w(m, i) + s) / (W_m + s N),
// w in co-occurrence or transition counts (itemCF weights rescaled to sum to m's
// co-occurrence count), W_m their sum, N the number of items and s = 0.01, so
// unseen items keep a finite score far below seen ones.
//
// Two ways to use them, combinable:
//   blend, over all items, log-linearly:
//     score = (1 - w_pop - w_trans - w_cf) * log_softmax(model)
//             + w_pop * log P_pop + w_trans * log P_trans + w_cf * log P_cf
//     so a weight of 1 ranks exactly by that prior and 0 disables it;
//   re-rank, only inside the top rerank_topk items of the (blended) scores, with
//     its own weights: (1 - sum r_w) * score + sum r_w * log P. Items below the top
//     K keep their order and stay below it.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "services/trainer/data/dataset.h"
#include "services/trainer/data/split.h"

namespace vmle::trainer {

enum class ItemCfNorm { kSqrt, kCount, kNone };

struct ItemCfOptions {
  int64_t window = 3;   // co-occurrence distance, >= 1
  int64_t top_k = 50;   // neighbours kept per item, >= 1
  ItemCfNorm norm = ItemCfNorm::kSqrt;

  auto key() const { return std::make_tuple(window, top_k, static_cast<int>(norm)); }
};

struct PriorWeights {
  double popularity = 0;  // in [0, 1]; the three blend weights sum to at most 1
  double transition = 0;
  int64_t recent_k = 1;   // history items the conditional priors start from
  double itemcf = 0;
  ItemCfOptions itemcf_options;
  // Re-rank of the top rerank_topk items (0: none), with its own weights (sum <= 1).
  int64_t rerank_topk = 0;
  double rerank_popularity = 0;
  double rerank_transition = 0;
  double rerank_itemcf = 0;

  bool blends() const { return popularity > 0 || transition > 0 || itemcf > 0; }
  bool reranks() const {
    return rerank_topk > 0 && (rerank_popularity > 0 || rerank_transition > 0 || rerank_itemcf > 0);
  }
  bool any() const { return blends() || reranks(); }
  bool uses_itemcf() const { return itemcf > 0 || (reranks() && rerank_itemcf > 0); }
};

// Per source item, its successors or neighbours with weights (descending, then item
// id), and the weights' sum.
struct NeighbourTable {
  struct Neighbour {
    int32_t item = 0;
    float weight = 0;
  };
  std::vector<std::vector<Neighbour>> rows;  // size num_items + 1; rows[0] empty
  std::vector<double> totals;
};

// The item co-occurrence neighbours of `dataset`'s training portions.
NeighbourTable ItemCfNeighbours(const Dataset& dataset, const TrainingPriors& counts,
                                const ItemCfOptions& options);

// The prior tables of one dataset, computed on first use and shared by every run on
// it (the worker keeps one per cached dataset). Thread-safe; `dataset` must outlive
// it and not change.
class PriorTables {
 public:
  explicit PriorTables(const Dataset& dataset) : dataset_(dataset) {}

  std::shared_ptr<const TrainingPriors> Counts();
  std::shared_ptr<const NeighbourTable> Transitions();
  std::shared_ptr<const NeighbourTable> ItemCf(const ItemCfOptions& options);

 private:
  const Dataset& dataset_;
  std::mutex mu_;
  std::shared_ptr<const TrainingPriors> counts_;
  std::shared_ptr<const NeighbourTable> transitions_;
  std::map<std::tuple<int64_t, int64_t, int>, std::shared_ptr<const NeighbourTable>> itemcf_;
};

class ScorePriors {
 public:
  // `tables` (optional) must be the tables of `dataset`; without, they are computed.
  ScorePriors(const Dataset& dataset, const PriorWeights& weights, PriorTables* tables = nullptr);

  // scores: float [B, num_items + 1] model scores (column 0 = padding);
  // recent: int64 [B, recent_k] most recent history items, 0-padded on the left.
  // Returns the blended scores (column 0 stays meaningless; callers mask it), or
  // `scores` itself when nothing is blended.
  torch::Tensor Blend(const torch::Tensor& scores, const torch::Tensor& recent) const;

  // Re-rank scores of candidates: values float [B, K] (blended scores of the items
  // `candidates` int64 [B, K]). Returns float [B, K].
  torch::Tensor Rerank(const torch::Tensor& values, const torch::Tensor& candidates,
                       const torch::Tensor& recent) const;

  const PriorWeights& weights() const { return weights_; }
  int64_t recent_k() const { return weights_.recent_k; }

  // The prior terms alone, for tests: log P_pop [num_items + 1], and
  // log P_trans and log P_cf [B, num_items + 1].
  torch::Tensor LogPopularity() const { return log_popularity_; }
  torch::Tensor LogTransition(const torch::Tensor& recent) const;
  torch::Tensor LogItemCf(const torch::Tensor& recent) const;

 private:
  PriorWeights weights_;
  int64_t num_items_;
  torch::Tensor log_popularity_;  // [num_items + 1]
  std::shared_ptr<const NeighbourTable> transitions_;
  std::shared_ptr<const NeighbourTable> itemcf_;  // only when used
};

}  // namespace vmle::trainer
