#include "services/trainer/train/training_set.h"

#include <algorithm>
#include <numeric>

#include "services/trainer/data/split.h"

namespace vmle::trainer {

TrainingSet::TrainingSet(const Dataset& dataset, int64_t max_len, TrainTargets targets)
    : max_len_(max_len) {
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

TrainBatch TrainingSet::MakeBatch(const int64_t* examples, int64_t count, bool pack) const {
  int64_t length = 0;
  for (int64_t i = 0; i < count; ++i) {
    length = std::max(length, static_cast<int64_t>(inputs_[examples[i]].size()));
  }
  // Where each example starts: row * length + column.
  std::vector<int64_t> start(count);
  int64_t rows = 0;
  if (pack) {
    // First fit, longest first: each sequence goes to the first row with room.
    std::vector<int64_t> by_length(count);
    std::iota(by_length.begin(), by_length.end(), 0);
    std::stable_sort(by_length.begin(), by_length.end(), [&](int64_t a, int64_t b) {
      return inputs_[examples[a]].size() > inputs_[examples[b]].size();
    });
    std::vector<int64_t> used;  // filled columns per row
    for (int64_t i : by_length) {
      const auto n = static_cast<int64_t>(inputs_[examples[i]].size());
      size_t row = 0;
      while (row < used.size() && used[row] + n > length) ++row;
      if (row == used.size()) used.push_back(0);
      start[i] = static_cast<int64_t>(row) * length + used[row];
      used[row] += n;
    }
    rows = static_cast<int64_t>(used.size());
  } else {
    rows = count;
    for (int64_t i = 0; i < count; ++i) {
      start[i] = i * length + length - static_cast<int64_t>(inputs_[examples[i]].size());
    }
  }
  std::vector<int64_t> items(rows * length, 0);
  std::vector<int64_t> segments(rows * length, 0);
  std::vector<int64_t> positions(rows * length, 0);
  std::vector<int64_t> next_segment(rows, 1);
  std::vector<int64_t> target_positions;
  std::vector<int64_t> targets;
  for (int64_t i = 0; i < count; ++i) {
    const auto& x = inputs_[examples[i]];
    const auto& y = targets_[examples[i]];
    const auto n = static_cast<int64_t>(x.size());
    const int64_t segment = next_segment[start[i] / length]++;
    for (int64_t j = 0; j < n; ++j) {
      const int64_t at = start[i] + j;
      items[at] = x[j];
      segments[at] = segment;
      positions[at] = max_len_ - n + j;
      if (y[j] != 0) {
        target_positions.push_back(at);
        targets.push_back(y[j]);
      }
    }
  }
  TrainBatch batch;
  batch.sequences.items = torch::tensor(items, torch::kLong).view({rows, length});
  batch.sequences.segments = torch::tensor(segments, torch::kLong).view({rows, length});
  batch.sequences.positions = torch::tensor(positions, torch::kLong).view({rows, length});
  batch.num_targets = static_cast<int64_t>(targets.size());
  batch.target_positions = torch::tensor(target_positions, torch::kLong);
  batch.targets = torch::tensor(targets, torch::kLong);
  batch.num_examples = count;
  return batch;
}

std::vector<TrainBatch> TrainingSet::EpochBatches(int64_t batch_size, std::mt19937_64& rng,
                                                  Batching batching) const {
  std::vector<int64_t> order(inputs_.size());
  std::iota(order.begin(), order.end(), 0);
  // Fisher-Yates with our own index draws: identical on every standard library.
  for (int64_t i = static_cast<int64_t>(order.size()) - 1; i > 0; --i) {
    std::swap(order[i], order[rng() % static_cast<uint64_t>(i + 1)]);
  }
  const bool buckets = batching == Batching::kLengthBuckets;
  if (buckets) {
    std::stable_sort(order.begin(), order.end(), [this](int64_t a, int64_t b) {
      return inputs_[a].size() < inputs_[b].size();
    });
  }
  std::vector<TrainBatch> batches;
  for (size_t begin = 0; begin < order.size(); begin += batch_size) {
    const size_t end = std::min(order.size(), begin + static_cast<size_t>(batch_size));
    batches.push_back(MakeBatch(order.data() + begin, static_cast<int64_t>(end - begin),
                                batching == Batching::kPacked));
  }
  if (buckets) {
    for (int64_t i = static_cast<int64_t>(batches.size()) - 1; i > 0; --i) {
      std::swap(batches[i], batches[rng() % static_cast<uint64_t>(i + 1)]);
    }
  }
  return batches;
}

}  // namespace vmle::trainer
