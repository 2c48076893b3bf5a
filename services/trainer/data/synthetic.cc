#include "services/trainer/data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace vmle::trainer {
namespace {

constexpr int32_t kMaxSuccessors = 1000;

// Platform-independent draws on top of std::mt19937_64 (whose output sequence
// the standard fixes, unlike that of the std distributions).
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  // Uniform integer in [0, n), n > 0, without modulo bias.
  uint64_t Below(uint64_t n) {
    constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
    const uint64_t limit = kMax - kMax % n;
    uint64_t x = engine_();
    while (x >= limit) x = engine_();
    return x % n;
  }

  template <typename T>
  void Shuffle(std::vector<T>& values) {
    for (size_t i = values.size(); i > 1; --i) std::swap(values[i - 1], values[Below(i)]);
  }

 private:
  std::mt19937_64 engine_;
};

// Draws one of `items` with probability proportional to its weight.
class WeightedSampler {
 public:
  void Add(int32_t item, double weight) {
    items_.push_back(item);
    cumulative_.push_back((cumulative_.empty() ? 0 : cumulative_.back()) + weight);
  }
  bool empty() const { return items_.empty(); }
  int32_t Sample(Rng& rng) const {
    const double x = rng.Uniform() * cumulative_.back();
    const size_t k = static_cast<size_t>(
        std::upper_bound(cumulative_.begin(), cumulative_.end(), x) - cumulative_.begin());
    return items_[std::min(k, items_.size() - 1)];
  }

 private:
  std::vector<int32_t> items_;
  std::vector<double> cumulative_;
};

// The hidden structure behind the sequences. Items are 0-based here.
struct World {
  std::vector<int32_t> cluster_of;
  std::vector<WeightedSampler> clusters;    // by popularity, per cluster
  std::vector<WeightedSampler> successors;  // per item
};

SyntheticOptions Clamped(SyntheticOptions o) {
  o.num_users = std::max<int64_t>(o.num_users, 0);
  o.num_items = std::clamp<int64_t>(o.num_items, 1, std::numeric_limits<int32_t>::max() - 1);
  o.num_clusters = static_cast<int32_t>(std::clamp<int64_t>(o.num_clusters, 1, o.num_items));
  o.min_length = std::max(o.min_length, 1);
  o.max_length = std::max(o.max_length, o.min_length);
  if (!(o.mean_length >= o.min_length)) o.mean_length = o.min_length;
  if (!(o.mean_length <= o.max_length)) o.mean_length = o.max_length;
  if (!(o.popularity_skew >= 0) || !std::isfinite(o.popularity_skew)) o.popularity_skew = 0;
  auto probability = [](double p) { return p >= 0 && p <= 1 ? p : 0.0; };
  o.transition_strength = probability(o.transition_strength);
  o.same_cluster_share = probability(o.same_cluster_share);
  o.successors_per_item = std::clamp(o.successors_per_item, 0, kMaxSuccessors);
  o.max_user_clusters = std::clamp(o.max_user_clusters, 1, o.num_clusters);
  return o;
}

std::vector<int32_t> ShuffledItems(int32_t n, Rng& rng) {
  std::vector<int32_t> items(static_cast<size_t>(n));
  std::iota(items.begin(), items.end(), 0);
  rng.Shuffle(items);
  return items;
}

void AddSuccessors(const SyntheticOptions& o, int32_t item, Rng& rng, World& world) {
  std::vector<int32_t> chosen;
  for (int32_t s = 0; s < o.successors_per_item; ++s) {
    const bool same = rng.Uniform() < o.same_cluster_share;
    const size_t cluster = same ? static_cast<size_t>(world.cluster_of[static_cast<size_t>(item)])
                                : rng.Below(static_cast<uint64_t>(o.num_clusters));
    for (int attempt = 0; attempt < 8; ++attempt) {
      const int32_t next = world.clusters[cluster].Sample(rng);
      if (next == item || std::count(chosen.begin(), chosen.end(), next) > 0) continue;
      chosen.push_back(next);
      world.successors[static_cast<size_t>(item)].Add(next, 1.0 / (1.0 + s));
      break;
    }
  }
}

World BuildWorld(const SyntheticOptions& o, Rng& rng) {
  const int32_t n = static_cast<int32_t>(o.num_items);
  World world;
  std::vector<double> popularity(static_cast<size_t>(n));
  const std::vector<int32_t> by_rank = ShuffledItems(n, rng);
  for (size_t r = 0; r < by_rank.size(); ++r) {
    popularity[static_cast<size_t>(by_rank[r])] =
        std::pow(static_cast<double>(r + 1), -o.popularity_skew);
  }
  world.cluster_of.resize(static_cast<size_t>(n));
  const std::vector<int32_t> by_cluster = ShuffledItems(n, rng);
  for (size_t k = 0; k < by_cluster.size(); ++k) {
    world.cluster_of[static_cast<size_t>(by_cluster[k])] =
        static_cast<int32_t>(k % static_cast<size_t>(o.num_clusters));
  }
  world.clusters.resize(static_cast<size_t>(o.num_clusters));
  for (int32_t i = 0; i < n; ++i) {
    world.clusters[static_cast<size_t>(world.cluster_of[static_cast<size_t>(i)])].Add(
        i, popularity[static_cast<size_t>(i)]);
  }
  world.successors.resize(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) AddSuccessors(o, i, rng, world);
  return world;
}

// The user's preferred clusters, weighted.
WeightedSampler UserClusters(const SyntheticOptions& o, Rng& rng) {
  const uint64_t count = 1 + rng.Below(static_cast<uint64_t>(o.max_user_clusters));
  std::vector<int32_t> chosen;
  WeightedSampler mix;
  while (chosen.size() < count) {
    const auto c = static_cast<int32_t>(rng.Below(static_cast<uint64_t>(o.num_clusters)));
    if (std::count(chosen.begin(), chosen.end(), c) > 0) continue;
    chosen.push_back(c);
    mix.Add(c, 0.2 + rng.Uniform());
  }
  return mix;
}

// min_length plus a geometric tail. Light users (80%) have a tail mean of
// 0.4 t, heavy ones 3.4 t, so the overall tail mean is t = mean_length -
// min_length while the median stays below the mean, as in Amazon data.
int64_t DrawLength(const SyntheticOptions& o, Rng& rng) {
  int64_t length = o.min_length;
  const double tail_mean = o.mean_length - o.min_length;
  if (tail_mean <= 0) return length;
  const double user_mean = tail_mean * (rng.Uniform() < 0.8 ? 0.4 : 3.4);
  const double stop = 1 / (1 + user_mean);  // geometric with mean user_mean
  while (length < o.max_length && rng.Uniform() >= stop) ++length;
  return length;
}

// Uniform over all items except `item`; num_items > 1.
int32_t AnyItemBut(int32_t item, int64_t num_items, Rng& rng) {
  const auto other = static_cast<int32_t>(rng.Below(static_cast<uint64_t>(num_items - 1)));
  return other >= item ? other + 1 : other;
}

std::vector<int32_t> DrawSequence(const SyntheticOptions& o, const World& world, Rng& rng) {
  const WeightedSampler mix = UserClusters(o, rng);
  const int64_t length = DrawLength(o, rng);
  std::vector<int32_t> seq;
  seq.reserve(static_cast<size_t>(length));
  int32_t prev = -1;
  for (int64_t k = 0; k < length; ++k) {
    int32_t next = -1;
    if (prev >= 0 && rng.Uniform() < o.transition_strength &&
        !world.successors[static_cast<size_t>(prev)].empty()) {
      next = world.successors[static_cast<size_t>(prev)].Sample(rng);
    }
    for (int attempt = 0; attempt < 4 && (next < 0 || next == prev); ++attempt) {
      next = world.clusters[static_cast<size_t>(mix.Sample(rng))].Sample(rng);
    }
    if (next == prev && o.num_items > 1) next = AnyItemBut(prev, o.num_items, rng);
    seq.push_back(next);
    prev = next;
  }
  return seq;
}

// Renumbers 0-based items to dense 1-based ids by first appearance.
int64_t Compact(std::vector<std::vector<int32_t>>& sequences, int64_t num_items) {
  std::vector<int32_t> id(static_cast<size_t>(num_items), 0);
  int32_t next = 0;
  for (auto& seq : sequences) {
    for (int32_t& item : seq) {
      int32_t& new_id = id[static_cast<size_t>(item)];
      if (new_id == 0) new_id = ++next;
      item = new_id;
    }
  }
  return next;
}

Status Bad(const std::string& field, const std::string& rule) {
  return InvalidArgumentError("synthetic option " + field + " must be " + rule);
}

}  // namespace

Status ValidateSyntheticOptions(const SyntheticOptions& o) {
  auto probability = [](double p) { return p >= 0 && p <= 1; };
  if (o.num_users < 1) return Bad("num_users", ">= 1");
  if (o.num_items < 1 || o.num_items >= std::numeric_limits<int32_t>::max()) {
    return Bad("num_items", "in [1, 2^31 - 2]");
  }
  if (o.num_clusters < 1 || o.num_clusters > o.num_items) {
    return Bad("num_clusters", "in [1, num_items]");
  }
  if (o.min_length < 1) return Bad("min_length", ">= 1");
  if (o.max_length < o.min_length) return Bad("max_length", ">= min_length");
  if (!(o.mean_length >= o.min_length && o.mean_length <= o.max_length)) {
    return Bad("mean_length", "in [min_length, max_length]");
  }
  if (!(o.popularity_skew >= 0) || !std::isfinite(o.popularity_skew)) {
    return Bad("popularity_skew", "finite and >= 0");
  }
  if (!probability(o.transition_strength)) return Bad("transition_strength", "in [0, 1]");
  if (!probability(o.same_cluster_share)) return Bad("same_cluster_share", "in [0, 1]");
  if (o.successors_per_item < 0 || o.successors_per_item > kMaxSuccessors) {
    return Bad("successors_per_item", "in [0, 1000]");
  }
  if (o.max_user_clusters < 1 || o.max_user_clusters > o.num_clusters) {
    return Bad("max_user_clusters", "in [1, num_clusters]");
  }
  return OkStatus();
}

Dataset GenerateSynthetic(const SyntheticOptions& options) {
  const SyntheticOptions o = Clamped(options);
  Rng rng(o.seed);
  const World world = BuildWorld(o, rng);
  Dataset dataset;
  dataset.sequences.reserve(static_cast<size_t>(o.num_users));
  for (int64_t u = 0; u < o.num_users; ++u) {
    dataset.sequences.push_back(DrawSequence(o, world, rng));
  }
  dataset.num_users = o.num_users;
  dataset.num_items = Compact(dataset.sequences, o.num_items);
  return dataset;
}

}  // namespace vmle::trainer
