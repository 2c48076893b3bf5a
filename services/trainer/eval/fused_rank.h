// Full-ranking counts without forming the score matrix: each user's state is
// multiplied with every item's output embedding in cache-sized blocks, and the
// products above the user's target score are counted while still in registers.
// Evaluation on the CPU is bound by those products; the plain path writes a
// [B, N + 1] score matrix with a library matrix product and reads it back to count.
//
// Exactness: every score, the target's included, is one fused multiply-add chain
// over the hidden dimension in the same order, so the target never counts above
// itself and masked items are judged on the scores the block pass saw. Ranks equal
// RankTargets' on the same products up to the summation order of the library's
// matrix product (identical wherever the products are exact).
//
// Available on x86-64 CPUs with AVX-512F (checked at run time); elsewhere
// FusedRanker::Available() is false and the evaluator uses the plain path.
// Thread-safety: Rank may be called concurrently; it splits users over the torch
// intra-op threads.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace vmle::trainer {

class FusedRanker {
 public:
  // Whether this CPU (and build) runs the fused kernel.
  static bool Available();

  // items: float [N + 1, D] on the CPU, row 0 the padding item (never ranked).
  // Packs a copy; the ranker does not keep `items` alive.
  explicit FusedRanker(const torch::Tensor& items);

  // 0-based ranks of targets: the items 1..N scoring strictly above the target with
  // `states` [B, D] (float, CPU), minus the masked history items above it. targets
  // int64 [B, 1]; the mask lists each (row, item) at most once and never a row's
  // target. Returns int64 [B]. Requires Available().
  torch::Tensor Rank(const torch::Tensor& states, const torch::Tensor& targets,
                     const torch::Tensor& mask_rows, const torch::Tensor& mask_cols) const;

 private:
  torch::Tensor table_;   // [N + 1, D], contiguous: the target and mask scores
  torch::Tensor packed_;  // [panels, D, kPanel]: items 1..N, zero-padded
  int64_t dim_ = 0;
  int64_t num_items_ = 0;
};

}  // namespace vmle::trainer
