#include "services/trainer/model/dropout.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <mutex>

namespace vmle::trainer {
namespace {

// Elements per independently seeded chunk of a mask.
constexpr int64_t kChunk = 4096;

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Four 16-bit draws per SplitMix64 output: a keep probability resolved to 2^-16.
template <typename T>
void FillMask(T* out, int64_t count, double keep, uint64_t seed) {
  const auto threshold = static_cast<uint32_t>(std::lround(keep * 65536.0));
  const T scale = static_cast<T>(1.0 / keep);
  at::parallel_for(0, (count + kChunk - 1) / kChunk, 1, [&](int64_t begin, int64_t end) {
    for (int64_t chunk = begin; chunk < end; ++chunk) {
      uint64_t state = seed ^ (static_cast<uint64_t>(chunk) * 0xD1B54A32D192ED03ull);
      const int64_t lo = chunk * kChunk;
      const int64_t hi = std::min(count, lo + kChunk);
      int64_t i = lo;
      for (; i + 4 <= hi; i += 4) {
        const uint64_t bits = SplitMix64(state);
        out[i] = static_cast<uint32_t>(bits & 0xFFFF) < threshold ? scale : T(0);
        out[i + 1] = static_cast<uint32_t>((bits >> 16) & 0xFFFF) < threshold ? scale : T(0);
        out[i + 2] = static_cast<uint32_t>((bits >> 32) & 0xFFFF) < threshold ? scale : T(0);
        out[i + 3] = static_cast<uint32_t>(bits >> 48) < threshold ? scale : T(0);
      }
      uint64_t bits = SplitMix64(state);
      for (; i < hi; ++i, bits >>= 16) out[i] = static_cast<uint32_t>(bits & 0xFFFF) < threshold ? scale : T(0);
    }
  });
}

uint64_t DrawSeed() {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get<at::CPUGeneratorImpl>()->random64();
}

}  // namespace

torch::Tensor DropoutMask(at::IntArrayRef sizes, double keep, uint64_t seed, torch::ScalarType dtype) {
  auto mask = torch::empty(sizes, torch::TensorOptions().dtype(dtype));
  if (dtype == torch::kDouble) {
    FillMask(mask.data_ptr<double>(), mask.numel(), keep, seed);
  } else {
    TORCH_CHECK(dtype == torch::kFloat, "DropoutMask supports float and double");
    FillMask(mask.data_ptr<float>(), mask.numel(), keep, seed);
  }
  return mask;
}

DropoutImpl::DropoutImpl(double p) : p_(p) {}

torch::Tensor DropoutImpl::forward(const torch::Tensor& x) {
  if (!is_training() || p_ <= 0) return x;
  const auto dtype = x.scalar_type();
  if (!x.device().is_cpu() || (dtype != torch::kFloat && dtype != torch::kDouble)) {
    return torch::dropout(x, p_, true);
  }
  return x * DropoutMask(x.sizes(), 1.0 - p_, DrawSeed(), dtype);
}

}  // namespace vmle::trainer
