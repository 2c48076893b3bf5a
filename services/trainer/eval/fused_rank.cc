#include "services/trainer/eval/fused_rank.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define VMLE_FUSED_RANK 1
#define VMLE_AVX512 __attribute__((target("avx512f,fma,popcnt")))
#endif

namespace vmle::trainer {
namespace {

// A panel is 32 items (two 16-float vectors) and a tile 12 users: the 24
// accumulators, two item vectors and a broadcast fit the 32 vector registers.
constexpr int64_t kPanel = 32;
constexpr int64_t kTile = 12;
// The panels of one block stay in the L2 cache while every tile of a thread
// passes over them.
constexpr int64_t kBlockBytes = 256 * 1024;

#ifdef VMLE_FUSED_RANK

// One score as the block pass forms it: a fused multiply-add chain from zero, in
// hidden-dimension order.
VMLE_AVX512 float ChainDot(const float* a, const float* b, int64_t n) {
  float acc = 0.f;
  for (int64_t k = 0; k < n; ++k) acc = std::fma(a[k], b[k], acc);
  return acc;
}

// Adds to counts[r] the items of panels [begin, end) scoring above target[r], for
// the kTile users of `tile` ([dim, kTile], user-minor). `lanes` is the number of
// real items in the last panel of the table (`last`).
VMLE_AVX512 void CountTile(const float* tile, const float* packed, int64_t dim, int64_t begin,
                           int64_t end, int64_t last, int64_t lanes, const float* target,
                           int64_t* counts) {
  for (int64_t p = begin; p < end; ++p) {
    const float* v = packed + p * dim * kPanel;
    __m512 acc[kTile][2];
#pragma GCC unroll 12
    for (int r = 0; r < kTile; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t k = 0; k < dim; ++k) {
      const __m512 v0 = _mm512_loadu_ps(v + k * kPanel);
      const __m512 v1 = _mm512_loadu_ps(v + k * kPanel + 16);
      const float* u = tile + k * kTile;
#pragma GCC unroll 12
      for (int r = 0; r < kTile; ++r) {
        const __m512 ur = _mm512_set1_ps(u[r]);
        acc[r][0] = _mm512_fmadd_ps(ur, v0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(ur, v1, acc[r][1]);
      }
    }
    __mmask16 low = 0xFFFF;
    __mmask16 high = 0xFFFF;
    if (p == last) {
      low = lanes >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << lanes) - 1);
      high = lanes >= 32 ? 0xFFFF : lanes <= 16 ? 0 : static_cast<__mmask16>((1u << (lanes - 16)) - 1);
    }
#pragma GCC unroll 12
    for (int r = 0; r < kTile; ++r) {
      const __m512 t = _mm512_set1_ps(target[r]);
      counts[r] += _mm_popcnt_u32(_mm512_mask_cmp_ps_mask(low, acc[r][0], t, _CMP_GT_OQ)) +
                   _mm_popcnt_u32(_mm512_mask_cmp_ps_mask(high, acc[r][1], t, _CMP_GT_OQ));
    }
  }
}

#endif  // VMLE_FUSED_RANK

}  // namespace

bool FusedRanker::Available() {
#ifdef VMLE_FUSED_RANK
  static const bool available = __builtin_cpu_supports("avx512f") != 0;
  return available;
#else
  return false;
#endif
}

FusedRanker::FusedRanker(const torch::Tensor& items) {
  TORCH_CHECK(items.dim() == 2 && items.size(0) >= 1 && items.size(1) >= 1 && items.device().is_cpu(),
              "FusedRanker: items must be a [N + 1, D] CPU tensor with D >= 1");
  table_ = items.to(torch::kFloat).clone(at::MemoryFormat::Contiguous);
  dim_ = table_.size(1);
  num_items_ = table_.size(0) - 1;
  const int64_t panels = (num_items_ + kPanel - 1) / kPanel;
  auto rows = torch::zeros({panels * kPanel, dim_}, torch::kFloat);
  rows.narrow(0, 0, num_items_).copy_(table_.narrow(0, 1, num_items_));
  packed_ = rows.view({panels, kPanel, dim_}).transpose(1, 2).contiguous();
}

torch::Tensor FusedRanker::Rank(const torch::Tensor& states, const torch::Tensor& targets,
                                const torch::Tensor& mask_rows,
                                const torch::Tensor& mask_cols) const {
#ifdef VMLE_FUSED_RANK
  TORCH_CHECK(Available(), "FusedRanker::Rank: this CPU has no AVX-512F");
  TORCH_CHECK(states.dim() == 2 && states.size(1) == dim_ && states.device().is_cpu() &&
                  states.scalar_type() == torch::kFloat,
              "FusedRanker::Rank: states must be float [B, ", dim_, "] on the CPU");
  const auto s = states.contiguous();
  const int64_t rows = s.size(0);
  const int64_t tiles = (rows + kTile - 1) / kTile;
  // Whole tiles, each [D, kTile] so a step of the hidden dimension reads one line;
  // padded users have zero states and an infinite target, so they count nothing.
  auto padded = torch::zeros({tiles * kTile, dim_}, torch::kFloat);
  padded.narrow(0, 0, rows).copy_(s);
  const auto tiled = padded.view({tiles, kTile, dim_}).transpose(1, 2).contiguous();

  const float* u = s.data_ptr<float>();
  const float* table = table_.data_ptr<float>();
  const auto target_index = targets.contiguous();
  TORCH_CHECK(target_index.numel() == rows && target_index.scalar_type() == torch::kLong,
              "FusedRanker::Rank: targets must be int64 [B, 1]");
  const int64_t* target = target_index.data_ptr<int64_t>();
  std::vector<float> target_score(tiles * kTile, std::numeric_limits<float>::infinity());
  for (int64_t r = 0; r < rows; ++r) {
    TORCH_CHECK(target[r] >= 1 && target[r] <= num_items_, "FusedRanker::Rank: target out of range");
    target_score[r] = ChainDot(u + r * dim_, table + target[r] * dim_, dim_);
  }

  std::vector<int64_t> counts(tiles * kTile, 0);
  const int64_t panels = packed_.size(0);
  const int64_t lanes = num_items_ - (panels - 1) * kPanel;
  const int64_t block = std::max<int64_t>(1, kBlockBytes / (dim_ * kPanel * int64_t{sizeof(float)}));
  const float* packed = packed_.data_ptr<float>();
  const float* tile_data = tiled.data_ptr<float>();
  at::parallel_for(0, tiles, 1, [&](int64_t begin, int64_t end) {
    for (int64_t first = 0; first < panels; first += block) {
      const int64_t stop = std::min(panels, first + block);
      for (int64_t t = begin; t < end; ++t) {
        CountTile(tile_data + t * dim_ * kTile, packed, dim_, first, stop, panels - 1, lanes,
                  target_score.data() + t * kTile, counts.data() + t * kTile);
      }
    }
  });

  const auto mr_tensor = mask_rows.contiguous();
  const auto mc_tensor = mask_cols.contiguous();
  const int64_t* mr = mr_tensor.data_ptr<int64_t>();
  const int64_t* mc = mc_tensor.data_ptr<int64_t>();
  TORCH_CHECK(mc_tensor.numel() == mr_tensor.numel(), "FusedRanker::Rank: mask rows and items differ in length");
  for (int64_t i = 0; i < mr_tensor.numel(); ++i) {
    const int64_t r = mr[i];
    TORCH_CHECK(r >= 0 && r < rows && mc[i] >= 1 && mc[i] <= num_items_, "FusedRanker::Rank: mask entry out of range");
    counts[r] -= ChainDot(u + r * dim_, table + mc[i] * dim_, dim_) > target_score[r];
  }
  auto ranks = torch::empty({rows}, torch::kLong);
  std::copy(counts.begin(), counts.begin() + rows, ranks.data_ptr<int64_t>());
  return ranks;
#else
  (void)states, (void)targets, (void)mask_rows, (void)mask_cols;
  TORCH_CHECK(false, "FusedRanker::Rank: built without the fused kernel");
  return {};
#endif
}

}  // namespace vmle::trainer
