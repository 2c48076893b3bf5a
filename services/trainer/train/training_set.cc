#include "services/trainer/train/training_set.h"

#include <algorithm>
#include <numeric>

#include "services/trainer/data/split.h"

namespace vmle::trainer {

TrainingSet::TrainingSet(const Dataset& dataset, int64_t max_len, TrainTargets targets) {
  for (const auto& seq : dataset.sequences) {
    const int64_t train_len = TrainLength(static_cast<int64_t>(seq.size()));
    if (train_len < 2) continue;
    const int64_t n = std::min(train_len - 1, max_len);
    std::vector<int32_t> in(seq.begin() + (train_len - 1 - n), seq.begin() + (train_len - 1));
    std::vector<int32_t> out(seq.begin() + (train_len - n), seq.begin() + train_len);
    if (targets == TrainTargets::kLastPosition) {
      std::fill(out.begin(), out.end() - 1, 0);
      num_targets_ += 1;
    } else {
      num_targets_ += n;
    }
    inputs_.push_back(std::move(in));
    targets_.push_back(std::move(out));
  }
}

std::vector<TrainBatch> TrainingSet::EpochBatches(int64_t batch_size, std::mt19937_64& rng,
                                                  bool bucket_by_length) const {
  std::vector<int64_t> order(inputs_.size());
  std::iota(order.begin(), order.end(), 0);
  // Fisher-Yates with our own index draws: identical on every standard library.
  for (int64_t i = static_cast<int64_t>(order.size()) - 1; i > 0; --i) {
    std::swap(order[i], order[rng() % static_cast<uint64_t>(i + 1)]);
  }
  if (bucket_by_length) {
    std::stable_sort(order.begin(), order.end(), [this](int64_t a, int64_t b) {
      return inputs_[a].size() < inputs_[b].size();
    });
  }
  std::vector<TrainBatch> batches;
  for (size_t start = 0; start < order.size(); start += batch_size) {
    const size_t end = std::min(order.size(), start + static_cast<size_t>(batch_size));
    const int64_t rows = static_cast<int64_t>(end - start);
    int64_t length = 0;
    for (size_t i = start; i < end; ++i) {
      length = std::max(length, static_cast<int64_t>(inputs_[order[i]].size()));
    }
    std::vector<int64_t> in(rows * length, 0);
    std::vector<int64_t> out(rows * length, 0);
    int64_t count = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const auto& x = inputs_[order[start + r]];
      const auto& y = targets_[order[start + r]];
      const int64_t offset = r * length + length - static_cast<int64_t>(x.size());
      for (size_t j = 0; j < x.size(); ++j) {
        in[offset + j] = x[j];
        out[offset + j] = y[j];
        count += y[j] != 0;
      }
    }
    TrainBatch batch;
    batch.inputs = torch::tensor(in, torch::kLong).view({rows, length});
    batch.targets = torch::tensor(out, torch::kLong).view({rows, length});
    batch.num_targets = count;
    batches.push_back(std::move(batch));
  }
  for (int64_t i = static_cast<int64_t>(batches.size()) - 1; i > 0; --i) {
    std::swap(batches[i], batches[rng() % static_cast<uint64_t>(i + 1)]);
  }
  return batches;
}

}  // namespace vmle::trainer
